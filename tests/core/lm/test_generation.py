"""Writing with a tiny random language model: determinism, seeds, streaming, stop sequences, the context rule (a
long prompt loses its start, said before writing; a short context is written past), and the decoding settings."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from core.config.knobs import KnobError, knob_default, knob_field, knob_help, knob_limits
from core.lm.decoding import DecodingSettings, parse_stop_sequences
from core.lm.stopping import StopCutter, cut_at_stop
from core.lm.writing import TextGenerator, prompt_ids, sample_text

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


def _settings(**changes) -> DecodingSettings:
    return DecodingSettings(**{"max_new_tokens": 12, **changes})


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


def test_a_prompt_too_long_for_the_model_loses_its_start_and_says_so_before_writing(generator):
    long_prompt = " ".join(CORPUS)
    ids = prompt_ids(generator.tokenizer, long_prompt)
    fit = generator.fit(long_prompt, _settings(max_new_tokens=20))
    assert (fit.prompt_tokens, fit.context) == (len(ids), 64)
    assert fit.left_out == len(ids) - (64 - 20)  # the begin token and the newest 43 tokens are read
    assert fit.left_out_text == generator.tokenizer.decode(ids[1:1 + fit.left_out], skip_special_tokens=True)
    assert long_prompt.startswith(fit.left_out_text)
    assert generator.generate(long_prompt, _settings(temperature=0, max_new_tokens=20))
    short = generator.fit("the cat", _settings())
    assert (short.left_out, short.left_out_text) == (0, "")


def test_a_short_context_is_written_past_in_rounds(generator):
    settings = _settings(temperature=0, max_new_tokens=150)  # more than twice the 64 tokens the model reads
    new = generator.write_ids(prompt_ids(generator.tokenizer, "the cat"), settings)
    assert len(new) == 150
    assert generator.generate("the cat", settings) == generator.tokenizer.decode(new, skip_special_tokens=True)
    # After a long prompt too: half a context per round, each reading the newest tokens.
    assert len(generator.write_ids(prompt_ids(generator.tokenizer, " ".join(CORPUS)), settings)) == 150


def test_a_sample_during_training_leaves_the_random_state_and_the_mode_alone(generator):
    model, tokenizer = generator.model, generator.tokenizer
    model.train()
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    text = sample_text(model, tokenizer, "the sun", _settings(temperature=1.0, seed=3))
    assert torch.equal(torch.rand(3), expected) and model.training
    model.eval()
    assert text == generator.generate("the sun", _settings(temperature=1.0, seed=3))


def test_an_empty_prompt_starts_from_the_beginning_of_a_text(generator):
    assert generator.generate("", _settings(temperature=0, max_new_tokens=5))


@pytest.mark.parametrize("changes, message", [
    ({"temperature": -1.0}, "Temperature is -1, but it must be between 0 and 2"),
    ({"top_p": 0.0}, "Top-p is 0, but it must be between 0.05 and 1"),
    ({"top_k": -3}, "Top-k is -3"),
    ({"max_new_tokens": 0}, "Max new tokens is 0, but it must be between 1 and 2,048"),
    ({"repetition_penalty": 0.5}, "Repetition penalty is 0.5"),
    ({"stop_sequences": tuple("abcdefghij")}, "10 stop sequences; use at most 8"),
])
def test_bad_settings_say_what_is_wrong(changes, message):
    with pytest.raises(KnobError, match=message):
        DecodingSettings(**changes)


def test_stop_sequences_are_typed_one_per_line_with_escapes():
    assert parse_stop_sequences("\\n\\n\nEND\n\n") == ("\n\n", "END")
    assert DecodingSettings(stop_sequences=("", "x")).stop_sequences == ("x",)
    assert cut_at_stop("one\ntwo\n\nthree", ("\n\n",)) == "one\ntwo"


def test_every_setting_has_help_limits_and_a_default_inside_them():
    for item in fields(DecodingSettings):
        assert knob_help(DecodingSettings, item.name)
        low, high = knob_limits(DecodingSettings, item.name)
        if item.name == "stop_sequences":
            assert knob_field(DecodingSettings, item.name).metadata["max_items"] == 8
        else:
            assert low <= knob_default(DecodingSettings, item.name) <= high
    assert DecodingSettings().repetition_penalty == 1.0  # no penalty unless asked: a character model needs none
