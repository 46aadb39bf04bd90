"""A model's own chat template and tokenizer.json, without importing transformers' model stack.

`ChatTokenizer` renders messages with the folder's chat template through transformers'
jinja renderer (`transformers.utils.chat_template_utils`, which imports no torch) and tokenizes
with the `tokenizers` library, as `AutoTokenizer.apply_chat_template(..., tokenize=True)` does
for a fast tokenizer: the same text, then the same ids with no special tokens added. Loading
it takes well under a second where `AutoTokenizer` costs about 2.5 s and torch's memory.
It knows nothing of prompts or generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qa.errors import ModelLoadError
from qa.models.model_files import read_config, token_text


class ChatTokenizer:
    """Chat rendering, encoding and decoding for a model folder holding tokenizer.json."""

    def __init__(self, folder: Path | str) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        try:
            self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        except Exception as exc:
            raise ModelLoadError(f"cannot read the tokenizer of {self.folder}: {exc}") from exc
        config = read_config(self.folder / "tokenizer_config.json")
        tokens = {name: token_text(config.get(name)) for name in ("bos_token", "eos_token", "unk_token",
                                                                  "pad_token")}
        self.special_tokens: dict[str, Any] = {name: text for name, text in tokens.items() if text}
        template = config.get("chat_template")
        template_file = self.folder / "chat_template.jinja"
        if template_file.is_file():
            template = template_file.read_text(encoding="utf-8")
        if not isinstance(template, str) or not template:
            raise ModelLoadError(f"the model {self.folder} has no chat template")
        self.chat_template = template
        eos = self.special_tokens.get("eos_token")
        self.eos_token_id: int | None = self.tokenizer.token_to_id(eos) if eos else None

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The chat as the model's template writes it."""
        from transformers.utils.chat_template_utils import render_jinja_template

        # (rendered chats, generation indices) at run time, whatever its annotation says
        result: Any = render_jinja_template(conversations=[messages], chat_template=self.chat_template,
                                            add_generation_prompt=add_generation_prompt,
                                            **self.special_tokens)
        return str(result[0][0])

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the rendered chat, with a generation prompt and no added special tokens."""
        return list(self.tokenizer.encode(self.render(messages), add_special_tokens=False).ids)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        """Text of `ids` (special tokens left out by default)."""
        return str(self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens))
