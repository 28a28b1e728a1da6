"""Free generation on a tiny random language model: determinism, seeds, streaming, stop sequences, long prompts."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from core.lm.generation import (
    GenerationSettings,
    StopCutter,
    TextGenerator,
    parse_stop_sequences,
    settings_help,
)

CORPUS = ["the cat sat on the mat .", "a dog ran in the park .", "the sun is warm today .",
          "once upon a time there was a king .", "she said hello and left ."] * 4


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    # Whole words joined by spaces: the streamer hands text over word by word, so a stream has several pieces.
    words = sorted({word for line in CORPUS for word in line.split()})
    vocabulary = {token: i for i, token in enumerate(["<pad>", "<bos>", "<eos>", "<unk>", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(cleanup=False)
    tokenizer.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


@pytest.fixture(scope="module")
def generator(tokenizer) -> TextGenerator:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=0, bos_token_id=1, eos_token_id=None)  # never ends early: full length
    model = LlamaForCausalLM(config).eval()
    return TextGenerator(model, tokenizer)


def _settings(**changes) -> GenerationSettings:
    return GenerationSettings(**{"max_new_tokens": 12, "repetition_penalty": 1.0, **changes})


def _greedy_by_hand(generator: TextGenerator, prompt: str, steps: int) -> list[int]:
    ids = generator.tokenizer(prompt)["input_ids"]
    new = []
    with torch.no_grad():
        for _ in range(steps):
            token = int(generator.model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax())
            new.append(token)
    return new


def test_temperature_zero_always_takes_the_likeliest_token(generator):
    text = generator.generate("the cat", _settings(temperature=0, seed=1))
    assert text.strip()
    assert text == generator.generate("the cat", _settings(temperature=0, seed=99))
    expected = generator.tokenizer.decode(_greedy_by_hand(generator, "the cat", 12), skip_special_tokens=True)
    assert text == expected


def test_a_seed_fixes_the_sampled_text_and_another_seed_changes_it(generator):
    settings = _settings(temperature=1.5, top_p=1.0, top_k=0, max_new_tokens=20)
    first = generator.generate("the cat", settings)
    assert generator.generate("the cat", settings) == first
    others = {generator.generate("the cat", _settings(temperature=1.5, top_p=1.0, top_k=0, max_new_tokens=20,
                                                      seed=seed)) for seed in (1, 2, 3)}
    assert others - {first}


def test_top_k_of_one_is_greedy(generator):
    assert generator.generate("a dog", _settings(temperature=1.0, top_k=1, seed=5)) == \
        generator.generate("a dog", _settings(temperature=0))


def test_the_stream_arrives_in_pieces_that_make_the_whole_text(generator):
    pieces = list(generator.stream("once upon", _settings(temperature=0, max_new_tokens=16)))
    assert len(pieces) > 1
    assert "".join(pieces) == generator.generate("once upon", _settings(temperature=0, max_new_tokens=16))
    assert len(generator.tokenizer("".join(pieces), add_special_tokens=False)["input_ids"]) <= 16 + 2


def test_generation_stops_before_a_stop_sequence(generator):
    full = generator.generate("the sun", _settings(temperature=0, max_new_tokens=30))
    stop = full[len(full) // 2:len(full) // 2 + 3]
    assert stop.strip(), "the tiny model wrote only spaces"
    cut = generator.generate("the sun", _settings(temperature=0, max_new_tokens=30, stop_sequences=(stop,)))
    assert cut == full[:full.index(stop)]


def test_a_stop_sequence_split_across_pieces_is_never_shown():
    cutter = StopCutter(["\n\n"])
    shown = [cutter.feed(piece) for piece in ["Hello", " world\n", "\nmore"]]
    assert shown == ["Hello", " world", ""]
    assert cutter.stopped and cutter.flush() == ""
    false_alarm = StopCutter(["END"])
    assert [false_alarm.feed(p) for p in ["the E", "ND", "x"]] == ["the ", "", ""]
    almost = StopCutter(["END"])
    assert "".join([almost.feed(p) for p in ["the E", "Nd", " x"]] + [almost.flush()]) == "the ENd x"


def test_a_prompt_too_long_for_the_model_is_cut_from_the_front_with_a_warning(generator):
    long_prompt = " ".join(CORPUS)
    prepared = generator.prepare(long_prompt, _settings(max_new_tokens=20))
    assert prepared.warning and "left out" in prepared.warning
    assert len(prepared.input_ids) == 64 - 20
    assert prepared.input_ids[0] == generator.tokenizer.bos_token_id
    assert generator.generate(prepared, _settings(temperature=0, max_new_tokens=20))
    assert generator.prepare("the cat", _settings()).warning is None
    with pytest.raises(ValueError, match="fewer than 64"):
        generator.prepare("the cat", _settings(max_new_tokens=64))


def test_an_empty_prompt_starts_from_the_beginning_of_a_text(generator):
    assert generator.generate("", _settings(temperature=0, max_new_tokens=5))


@pytest.mark.parametrize("changes, message", [
    ({"temperature": -1.0}, "temperature"),
    ({"top_p": 0.0}, "Top-p"),
    ({"top_k": -3}, "Top-k"),
    ({"max_new_tokens": 0}, "at least one"),
    ({"stop_sequences": tuple("abcdefghij")}, "stop sequences"),
])
def test_bad_settings_say_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        GenerationSettings(**changes)


def test_stop_sequences_are_typed_one_per_line_with_escapes():
    assert parse_stop_sequences("\\n\\n\nEND\n\n") == ("\n\n", "END")
    assert GenerationSettings(stop_sequences=("", "x")).stop_sequences == ("x",)


def test_every_setting_has_help_text():
    assert all(settings_help().values())
