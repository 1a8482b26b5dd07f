"""The WeChat Official Account protocol: signatures, AES mode, parsing, handlers, replies.

Framework-free: an HTTP view calls `security.unwrap_request`, `parsing.parse_message`,
`Registry.respond` (behind a `dedup` reply cache) and `security.wrap_reply`.
"""
