"""Voice memos in bulk (`voicebot memos`): transcripts turned into titles, summaries and
action items, at once or through Groq's Batch API, resumable after any interruption.

`schema` (the memo's JSON schema, the request body, reading and rendering a memo),
`inputs` (which files, where their results go), `state` (what a run must not forget),
`batch_run` (upload, create, poll, collect). The command is `voicebot.cli.memos_command`.
"""
