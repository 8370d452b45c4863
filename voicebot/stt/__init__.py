"""Speech to text around the client: one recording's requests and the checks on their text.

hearing (a recording's uploads, prompts and the judged whole), options (what the speech
requests carry, typed), hallucination (invented text dropped or flagged), piece_texts (the
pieces' prompts, order and joined text), vocabulary (the speech prompt from `stt_prompt` and
`vocabulary`).
"""
