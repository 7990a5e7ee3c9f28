"""Dump encryption: RSA key files, the dump key blob and ciphers, decryptcore's work."""
