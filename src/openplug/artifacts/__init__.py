"""Files in conversations: DevRev's ``artifacts.*`` calls, storage
backends (a directory or S3-compatible), safe serving and image copies.
See ``service`` for the rules and the README's "Files" section."""
