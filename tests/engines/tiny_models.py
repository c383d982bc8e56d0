"""Tiny random-weight checkpoints of the real diffusers pipelines, written to disk.

They use the same classes, folder layout and index files as the released
MiniMax Music 3 and ACE-Step 1.5 checkpoints, so the adapters load them through
exactly the code path they use in production; only the sizes are small. Nothing
here downloads: the tokenizer is a byte-level BPE with no merges, built in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

# The special-token ids of MiniMax Music 3 are part of its checkpoint contract, so
# the language model's vocabulary must reach past the last semantic code.
M3_VOCAB_SIZE = 151_675 + 16_384 + 1
M3_HIDDEN = 16
M3_AUDIO_VOCAB = 16
M3_SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|caption_start|>",
    "<|caption_end|>",
    "<|lyrics_start|>",
    "<|lyrics_end|>",
    "<|audio_start|>",
)


def byte_level_tokenizer(special_tokens: tuple[str, ...] = ()) -> Any:
    """A Qwen2Tokenizer over the 256 byte symbols: every text encodes, nothing is fetched."""
    from tokenizers import AddedToken, pre_tokenizers
    from transformers import Qwen2Tokenizer

    vocab = {"<|endoftext|>": 0}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    if special_tokens:
        tokenizer.add_tokens([AddedToken(token, special=True) for token in special_tokens])
    return tokenizer


@contextmanager
def quiet_weight_norm() -> Iterator[None]:
    # The vocoders are built with torch.nn.utils.weight_norm, deprecated upstream;
    # the warning is diffusers' business, not ours.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*weight_norm.*", category=FutureWarning)
        yield


def tiny_m3_language_models(seed: int = 0) -> tuple[Any, Any]:
    """The two autoregressive models of MiniMax Music 3, tiny and random, in eval mode."""
    from diffusers import MiniMaxMusic3RVQDepthDecoder
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    language_model = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=M3_VOCAB_SIZE,
            hidden_size=M3_HIDDEN,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=4096,
            tie_word_embeddings=False,
        )
    ).eval()
    depth_decoder = MiniMaxMusic3RVQDepthDecoder(
        hidden_size=M3_HIDDEN,
        num_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        audio_vocab_size=M3_AUDIO_VOCAB,
        num_codebooks=8,
        max_position_embeddings=16,
    ).eval()
    # Random weights rarely pick the end token; make the test reach it sometimes
    # by tilting its logit, as a trained model does at the end of a song.
    with torch.no_grad():
        language_model.lm_head.weight[151_670] *= 4.0
    return language_model, depth_decoder


def build_tiny_minimax_music3(root: Path, seed: int = 0) -> Path:
    """Write a tiny MiniMax Music 3 modular-pipeline checkpoint to ``root`` and return it."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        MiniMaxMusic3Blocks,
        MiniMaxMusic3ConditionEncoder,
        MiniMaxMusic3Transformer1DModel,
        MiniMaxMusic3Vocoder,
    )

    language_model, depth_decoder = tiny_m3_language_models(seed)
    torch.manual_seed(seed)
    condition_encoder = MiniMaxMusic3ConditionEncoder(
        condition_hidden_dim=M3_HIDDEN,
        num_condition_layers=8,
        out_dim=16,
        input_sampling_rate=24000,
        input_hop_length=960,
        output_sampling_rate=44100,
        output_hop_length=512,
    )
    transformer = MiniMaxMusic3Transformer1DModel(
        in_channels=8,
        condition_dim=16,
        num_layers=2,
        num_attention_heads=2,
        attention_head_dim=8,
        ff_inner_dim=32,
        rotary_dim=4,
        fourier_embedding_dim=8,
    )
    with quiet_weight_norm():
        # 8 * 8 * 8 = 512 samples per latent, the real hop, so durations come out true.
        vocoder = MiniMaxMusic3Vocoder(
            latent_channels=8,
            decoder_input_dim=8,
            decoder_hidden_dim=8,
            upsampling_ratios=(8, 8, 8),
            sampling_rate=44100,
        )
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1, shift=1.0, invert_sigmas=True
    )

    pipeline = MiniMaxMusic3Blocks().init_pipeline()
    pipeline.update_components(
        tokenizer=byte_level_tokenizer(M3_SPECIAL_TOKENS),
        language_model=language_model,
        rvq_depth_decoder=depth_decoder,
        condition_encoder=condition_encoder,
        transformer=transformer,
        vocoder=vocoder,
        scheduler=scheduler,
    )
    root.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(str(root), overwrite_modular_index=True)
    return root


def build_tiny_ace_step(root: Path, seed: int = 0, turbo: bool = True) -> Path:
    """Write a tiny ACE-Step 1.5 pipeline checkpoint to ``root`` and return it."""
    from diffusers import AceStepPipeline, AutoencoderOobleck, FlowMatchEulerDiscreteScheduler
    from diffusers.models.transformers.ace_step_transformer import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step import AceStepConditionEncoder
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    transformer = AceStepTransformer1DModel(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        in_channels=24,
        audio_acoustic_hidden_dim=8,
        patch_size=2,
        rope_theta=10000.0,
        sliding_window=16,
        is_turbo=turbo,
    )
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=300,
            max_position_embeddings=4096,
        )
    )
    condition_encoder = AceStepConditionEncoder(
        hidden_size=32,
        intermediate_size=64,
        text_hidden_dim=32,
        timbre_hidden_dim=8,
        num_lyric_encoder_hidden_layers=2,
        num_timbre_encoder_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        rope_theta=10000.0,
        sliding_window=16,
    )
    with quiet_weight_norm():
        # 2 * 4 * 8 * 30 = 1920 samples per latent at 48 kHz: the real 25 latents/s.
        vae = AutoencoderOobleck(
            encoder_hidden_size=6,
            downsampling_ratios=[2, 4, 8, 30],
            decoder_channels=3,
            decoder_input_channels=8,
            audio_channels=2,
            channel_multiples=[1, 1, 1, 1],
            sampling_rate=48000,
        )
    pipeline = AceStepPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_level_tokenizer(),
        transformer=transformer,
        condition_encoder=condition_encoder,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0),
    )
    root.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(str(root))
    return root
