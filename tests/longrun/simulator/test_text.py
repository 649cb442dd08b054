"""Deterministic reply text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from longrun.simulator.text import (
    VOCABULARY,
    count_prompt_tokens,
    encoded_token,
    message_content,
    prompt_text,
    reply_tokens,
)

ROOT = Path(__file__).resolve().parents[3]


def test_a_reply_has_exactly_the_asked_number_of_tokens() -> None:
    assert len(reply_tokens("hello", 50)) == 50


def test_the_same_prompt_gives_the_same_tokens() -> None:
    assert reply_tokens("same prompt", 20) == reply_tokens("same prompt", 20)


def test_different_prompts_give_different_tokens() -> None:
    assert reply_tokens("one prompt", 20) != reply_tokens("another prompt", 20)


def test_a_shorter_reply_is_a_prefix_of_a_longer_one() -> None:
    assert reply_tokens("prefix", 30)[:7] == reply_tokens("prefix", 7)


def test_every_token_but_the_first_is_a_vocabulary_word_after_a_space() -> None:
    first, *rest = reply_tokens("words", 40)
    assert first.lower() in VOCABULARY and first[0].isupper()
    assert all(token.startswith(" ") and token[1:] in VOCABULARY for token in rest)


def test_the_reply_does_not_depend_on_the_hash_seed() -> None:
    code = "from longrun.simulator.text import reply_tokens; print(''.join(reply_tokens('seed', 10)))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {"".join(reply_tokens("seed", 10)) + "\n"}


def test_the_prompt_text_includes_roles_and_text_parts() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {}}]},
    ]
    assert prompt_text(messages) == "system: Be brief.\nuser: Hi"


def test_a_message_without_text_content_counts_as_empty() -> None:
    assert message_content({"role": "assistant", "content": None}) == ""


def test_prompt_tokens_count_the_words_of_every_message() -> None:
    assert (
        count_prompt_tokens([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]) == 4
    )


def test_a_token_is_encoded_as_a_json_string() -> None:
    assert encoded_token(' say "hi"') == b'" say \\"hi\\""'
