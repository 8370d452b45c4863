"""The fake server's /files and /batches, driven by the official `groq` SDK over a real socket,
so the fake cannot drift from what the SDK sends and parses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import groq
import httpx
import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq
from tests.fakegroq.batches import MAX_FILE_BYTES, MAX_LINES

DATA = Path(__file__).parent / "data"
MODEL = "openai/gpt-oss-20b"


def client(fake: FakeGroq) -> groq.Groq:
    return groq.Groq(api_key=TEST_API_KEY, base_url=fake.host_url, max_retries=0)


def chat_line(custom_id: str, question: str, model: str = MODEL) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": question}]}}


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def results(c: groq.Groq, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    rows = [json.loads(line) for line in c.files.content(file_id).read().decode().splitlines()]
    return {row["custom_id"]: row for row in rows}


def statuses(c: groq.Groq, batch_id: str) -> Iterator[str]:
    """Each retrieve's status until a final one."""
    while True:
        status = c.batches.retrieve(batch_id).status
        yield status
        if status in ("completed", "failed", "expired", "cancelled"):
            return


def test_files_upload_list_retrieve_content_delete(fake_groq: FakeGroq) -> None:
    data = jsonl([chat_line("a", "What is the capital of France?")])
    with client(fake_groq) as c:
        created = c.files.create(file=("memos.jsonl", data), purpose="batch")
        assert created.id.startswith("file_") and created.bytes == len(data)
        assert (created.filename, created.purpose, created.object) == ("memos.jsonl", "batch", "file")
        assert [f.id for f in c.files.list().data] == [created.id]
        info = c.files.info(created.id)
        assert (info.id, info.bytes, info.filename) == (created.id, len(data), "memos.jsonl")
        assert c.files.content(created.id).read() == data
        gone = c.files.delete(created.id)
        assert gone.deleted and gone.id == created.id
        assert c.files.list().data == []
        with pytest.raises(groq.NotFoundError):
            c.files.info(created.id)


@pytest.mark.parametrize(("filename", "purpose", "data", "status", "says"), [
    ("memos.txt", "batch", b"{}\n", 400, "JSONL"),
    ("memos.jsonl", "fine-tune", b"{}\n", 400, "purpose"),
    ("memos.jsonl", "batch", b"", 400, "empty"),
    ("memos.jsonl", "batch", b"{}\n" * (MAX_LINES + 1), 400, "50000"),
])
def test_uploads_groq_refuses(fake_groq: FakeGroq, filename: str, purpose: str, data: bytes, status: int,
                              says: str) -> None:
    with client(fake_groq) as c, pytest.raises(groq.APIStatusError) as info:
        c.files.create(file=(filename, data), purpose=purpose)  # type: ignore[arg-type]
    assert info.value.status_code == status and says in info.value.message
    assert fake_groq.requests_to("/files")[0].upload is not None


def test_exactly_50000_lines_are_accepted(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        assert c.files.create(file=("memos.jsonl", b"{}\n" * MAX_LINES), purpose="batch").bytes == 3 * MAX_LINES


def test_a_file_over_200_mb_is_413_and_not_kept(fake_groq: FakeGroq) -> None:
    """Streamed up, so neither side holds the 200 MB in memory twice."""
    size = MAX_FILE_BYTES + 1
    boundary = "fakegroqboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
            "Content-Type: application/jsonl\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        line = b"{}\n" * (1 << 18)  # 768 KiB a chunk
        left = size
        while left > 0:
            yield line[:left]
            left -= len(line)
        yield tail

    r = httpx.post(fake_groq.base_url + "/files", content=body(), timeout=300,
                   headers={"Authorization": f"Bearer {TEST_API_KEY}",
                            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    (rec,) = fake_groq.requests_to("/files")
    assert rec.upload is not None and rec.upload.size == size
    assert httpx.get(fake_groq.base_url + "/files", headers={"Authorization": f"Bearer {TEST_API_KEY}"}
                     ).json()["data"] == []


def test_a_batch_goes_through_every_state_and_its_results_match_by_custom_id(fake_groq: FakeGroq) -> None:
    lines = [chat_line(f"memo-{i}", q) for i, q in enumerate(
        ["What is the capital of France?", "How many legs does a spider have?", "Plan my week."] * 4)]
    lines.append(chat_line("bad-model", "Hello?", model="no-such-model"))
    with client(fake_groq) as c:
        upload = c.files.create(file=("memos.jsonl", jsonl(lines)), purpose="batch")
        batch = c.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h",
                                 metadata={"job": "memos"})
        assert batch.status == "validating" and batch.id.startswith("batch_") and batch.metadata == {"job": "memos"}
        assert list(statuses(c, batch.id)) == ["in_progress", "finalizing", "completed"]
        done = c.batches.retrieve(batch.id)
        assert done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (13, 12, 1)
        assert done.in_progress_at and done.finalizing_at and done.completed_at and done.expires_at
        output, errors = results(c, done.output_file_id), results(c, done.error_file_id)
        assert c.files.info(done.output_file_id or "").purpose == "batch_output"
        raw_order = [json.loads(x)["custom_id"] for x in c.files.content(done.output_file_id or "").read().splitlines()]
        assert raw_order != sorted(raw_order, key=lambda x: int(x.split("-")[1]))  # any order: clients must match
        assert sorted(output) == sorted(line["custom_id"] for line in lines[:-1])
        answer = output["memo-0"]["response"]
        assert answer["status_code"] == 200
        assert answer["body"]["choices"][0]["message"]["content"] == "The capital of France is Paris."
        assert output["memo-1"]["response"]["body"]["choices"][0]["message"]["content"] == "A spider has eight legs."
        assert list(errors) == ["bad-model"] and errors["bad-model"]["response"]["status_code"] == 404
        assert c.batches.list().data[0].id == batch.id


def test_bad_jsonl_fails_the_batch_with_line_errors(fake_groq: FakeGroq) -> None:
    good = json.dumps(chat_line("a", "hi"))
    data = "\n".join([good, "{not json", json.dumps(chat_line("a", "again")), json.dumps({
        **chat_line("c", "hi"), "url": "/v1/embeddings"})]).encode()
    with client(fake_groq) as c:
        upload = c.files.create(file=("bad.jsonl", data), purpose="batch")
        batch = c.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert list(statuses(c, batch.id)) == ["failed"]
        failed = c.batches.retrieve(batch.id)
        assert failed.errors is not None and failed.errors.data is not None
        assert [(e.line, e.code) for e in failed.errors.data] == [
            (2, "invalid_json_line"), (3, "duplicate_custom_id"), (4, "mismatched_url")]
        assert failed.output_file_id is None and failed.failed_at


def test_an_expired_batch_keeps_what_ran_and_names_the_rest(fake_groq: FakeGroq) -> None:
    fake_groq.expire_next_batch(after_lines=2)
    lines = [chat_line(f"m{i}", "What is the capital of France?") for i in range(5)]
    with client(fake_groq) as c:
        upload = c.files.create(file=("memos.jsonl", jsonl(lines)), purpose="batch")
        batch = c.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert list(statuses(c, batch.id)) == ["in_progress", "expired"]
        expired = c.batches.retrieve(batch.id)
        output, errors = results(c, expired.output_file_id), results(c, expired.error_file_id)
        assert sorted(output) == ["m0", "m1"] and sorted(errors) == ["m2", "m3", "m4"]
        assert {e["error"]["code"] for e in errors.values()} == {"batch_expired"}
        assert all(e["response"] is None for e in errors.values())


def test_cancel_goes_through_cancelling_and_a_final_batch_cannot_be_cancelled(fake_groq: FakeGroq) -> None:
    fake_groq.set_batch_pace(3)
    with client(fake_groq) as c:
        upload = c.files.create(file=("memos.jsonl", jsonl([chat_line("a", "hi")])), purpose="batch")
        batch = c.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert c.batches.cancel(batch.id).status == "cancelling"
        assert list(statuses(c, batch.id)) == ["cancelling", "cancelling", "cancelled"]
        cancelled = c.batches.retrieve(batch.id)
        assert cancelled.cancelling_at and cancelled.cancelled_at and cancelled.output_file_id is None
        with pytest.raises(groq.BadRequestError, match="cancelled"):
            c.batches.cancel(batch.id)


def test_batch_requests_groq_refuses(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        upload = c.files.create(file=("memos.jsonl", jsonl([chat_line("a", "hi")])), purpose="batch")
        with pytest.raises(groq.BadRequestError, match="completion_window"):
            c.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="1h")
        with pytest.raises(groq.NotFoundError):
            c.batches.create(input_file_id="file_missing", endpoint="/v1/chat/completions", completion_window="24h")
        with pytest.raises(groq.NotFoundError):
            c.batches.retrieve("batch_missing")
        assert c.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                completion_window="7d").completion_window == "7d"


def test_audio_by_url_inside_a_batch(fake_groq: FakeGroq) -> None:
    """Groq's batches take audio only by URL: the fake fetches it like the service would."""
    url = fake_groq.host_media("capital.wav", (DATA / "capital.wav").read_bytes())
    lines = [{"custom_id": "memo.wav", "method": "POST", "url": "/v1/audio/transcriptions",
              "body": {"model": "whisper-large-v3-turbo", "url": url, "response_format": "verbose_json"}},
             {"custom_id": "gone.wav", "method": "POST", "url": "/v1/audio/transcriptions",
              "body": {"model": "whisper-large-v3-turbo", "url": url + "-missing"}}]
    with client(fake_groq) as c:
        upload = c.files.create(file=("audio.jsonl", jsonl(lines)), purpose="batch")
        batch = c.batches.create(input_file_id=upload.id, endpoint="/v1/audio/transcriptions",  # type: ignore[arg-type]
                                 completion_window="24h")
        assert list(statuses(c, batch.id))[-1] == "completed"
        done = c.batches.retrieve(batch.id)
        output, errors = results(c, done.output_file_id), results(c, done.error_file_id)
    body = output["memo.wav"]["response"]["body"]
    assert body["text"] == " What is the capital of France?" and body["segments"][0]["no_speech_prob"] < 0.1
    assert errors["gone.wav"]["response"]["status_code"] == 400


def test_batch_knobs_steer_from_another_process(fake_groq: FakeGroq) -> None:
    """The standalone server (`scripts/dev fakegroq`) is steered over HTTP: /_fake/batch-pace, /_fake/expire-batch."""
    assert httpx.post(fake_groq.host_url + "/_fake/batch-pace", json={"polls_per_state": 2}).status_code == 200
    assert httpx.post(fake_groq.host_url + "/_fake/expire-batch", json={"after_lines": 0}).status_code == 200
    with client(fake_groq) as c:
        upload = c.files.create(file=("memos.jsonl", jsonl([chat_line("a", "hi")])), purpose="batch")
        batch = c.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert list(statuses(c, batch.id)) == ["validating", "in_progress", "in_progress", "expired"]
