"""dumpon(8)'s flows: the 13+ and 12.x command sequences of dumpon.c, and the listing."""
