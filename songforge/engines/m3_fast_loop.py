"""MiniMax Music 3's autoregressive stage, rewritten for speed with the same sampling.

diffusers 0.42.1 (``MiniMaxMusic3AutoregressiveStep``) runs, for each 1/25 s of
audio, one step of the 8B language model and seven depth-decoder steps from a
Python loop: a dynamic KV cache that is re-concatenated every step, hundreds of
small kernel launches and a host sync (``.item()``) per frame. Decoding at batch
one is bound by reading the weights, so the floor is one read of the language
model plus seven of the depth decoder per frame (docs/benchmarks.md); the loop
ran about 14x above it on an H100. This module keeps every numeric step of the
reference and changes only how it is driven:

- the language model decodes into a preallocated (static) KV cache with our own
  single-token attention, so a frame has fixed shapes and can be captured in a
  CUDA graph (one graph per KV-length bucket);
- the end token is checked on the host only every ``sync_every`` frames; frames
  computed past the end are thrown away and the random generators are wound back
  to exactly where the reference leaves them, so the flow-matching stage that
  follows draws the same noise;
- several songs share each weight read (batching); every song keeps its own
  generator and draws exactly the random numbers the reference would draw for it.

Sampling is the reference's ``_sample_top_k`` with ``torch.multinomial`` written
out as the Gumbel-style argmax that ``torch.multinomial`` itself performs for a
single sample (``argmax(p / q)``, ``q ~ Exp(1)`` drawn from the same generator).
The CPU test in tests/engines/test_minimax_music3.py checks that logits match the
reference and that the sampled codes, hidden states and final generator states
are identical.

Imported only by the MiniMax Music 3 adapter after it has checked that torch is
installed, so torch is imported at module level here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger("songforge.engines.m3_fast_loop")

# The checkpoint contract, as diffusers 0.42.1 defines it
# (diffusers/modular_pipelines/minimax_music3/encoders.py). They are read from
# there at import time when possible so a diffusers change is noticed by the tests.
try:
    from diffusers.modular_pipelines.minimax_music3 import encoders as _reference

    AUDIO_END_TOKEN_ID: int = _reference._AUDIO_END_TOKEN_ID
    AUDIO_CODE_OFFSET: int = _reference._AUDIO_CODE_OFFSET
    SEMANTIC_VOCAB_SIZE: int = _reference._SEMANTIC_VOCAB_SIZE
    MAX_AUDIO_FRAMES: int = _reference._MAX_AUDIO_FRAMES
    AR_CFG_SCALE: float = _reference._AR_CFG_SCALE
    AR_CFG_TOP_K: int = _reference._AR_CFG_TOP_K
    AR_SAMPLING_TOP_K: int = _reference._AR_SAMPLING_TOP_K
except ImportError:  # pragma: no cover - the adapter checks diffusers first
    AUDIO_END_TOKEN_ID = 151670
    AUDIO_CODE_OFFSET = 151675
    SEMANTIC_VOCAB_SIZE = 16384
    MAX_AUDIO_FRAMES = 9000
    AR_CFG_SCALE = 1.5
    AR_CFG_TOP_K = 50
    AR_SAMPLING_TOP_K = 50

FrameProgress = Callable[[int, int], None]


@dataclass
class ARRequest:
    """One song's input to the autoregressive stage."""

    # [2, prompt_len]: the conditional prompt and its classifier-free twin.
    text_ids: torch.Tensor
    max_frames: int
    generator: torch.Generator | None


@dataclass
class FastLoopOptions:
    # Read the end flags back to the host every this many frames (one sync each).
    sync_every: int = 25
    # Capture each frame as a CUDA graph (CUDA only; falls back to eager on failure).
    cuda_graphs: bool = True
    # KV lengths are rounded up to a multiple of this for graph capture.
    kv_bucket: int = 512
    # Attend over bucketed, masked KV lengths even without graphs: the graph path's
    # arithmetic, checkable on machines without CUDA.
    bucketed_eager: bool = False
    # When a list is given, every guided logit row handed to sampling is appended
    # as (stage, request index, logits) - for the equivalence tests; eager only.
    record: list[tuple[str, int, torch.Tensor]] | None = None
    progress: FrameProgress | None = None


@dataclass
class _Rows:
    """Static (fixed-address) state of one batched decode, for graph capture."""

    last_hidden: torch.Tensor  # [2B, H]
    lengths: torch.Tensor  # [2B] KV length of each row = position of the next token
    frame_index: torch.Tensor  # [] current frame number
    end_frame: torch.Tensor  # [B] first frame whose semantic sample was the end token, or -1
    out_hiddens: torch.Tensor  # [B, max_frames, num_codebooks * H]
    keys: list[torch.Tensor] = field(default_factory=list)  # per layer [2B, kv_heads, max_len, d]
    values: list[torch.Tensor] = field(default_factory=list)


def sample_top_k_rows(
    logits: torch.Tensor,
    generators: Sequence[torch.Generator | None],
    top_k: int = AR_SAMPLING_TOP_K,
) -> torch.Tensor:
    """The reference ``_sample_top_k`` for a batch of rows; row ``b`` draws from ``generators[b]``.

    ``torch.multinomial(p, 1, generator=g)`` is computed by torch as
    ``argmax(p / q)`` with ``q = empty_like(p).exponential_(1, generator=g)``;
    doing that by hand keeps the same random stream without a host round trip.
    """
    values = torch.nan_to_num(logits.float(), nan=-1e9, posinf=1e9, neginf=-1e9)
    k = min(top_k, values.shape[-1])
    threshold = torch.topk(values, k, dim=-1).values[..., -1, None]
    values = values.masked_fill(values < threshold, -float("inf"))
    probs = torch.nan_to_num(F.softmax(values, dim=-1), nan=0.0)
    probs = probs / probs.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    noise = torch.cat(
        [_exponential((1, probs.shape[-1]), generator, probs.device) for generator in generators]
    )
    return (probs / noise).argmax(dim=-1)


def _exponential(
    shape: tuple[int, int], generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    # The reference samples on the generator's device (a CPU generator gives
    # device-independent results); so do we.
    draw_device = generator.device if generator is not None else device
    noise = torch.empty(shape, dtype=torch.float32, device=draw_device)
    noise.exponential_(1.0, generator=generator)
    return noise.to(device)


def check_supported(language_model: Any) -> str | None:
    """Why this language model cannot use the fast loop, or None when it can."""
    config = language_model.config
    if getattr(config, "use_sliding_window", False):
        return "sliding-window attention is not implemented in the fast loop"
    layer_types = getattr(config, "layer_types", None) or []
    if any(kind != "full_attention" for kind in layer_types):
        return "only full-attention layers are implemented in the fast loop"
    if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager", None):
        return f"attention implementation {config._attn_implementation!r} is not supported"
    return None


class FastAutoregressiveLoop:
    """Runs the autoregressive stage for one or more songs on one loaded model pair."""

    def __init__(self, language_model: Any, rvq_depth_decoder: Any) -> None:
        reason = check_supported(language_model)
        if reason is not None:
            raise NotImplementedError(reason)
        self.lm = language_model
        self.dd = rvq_depth_decoder
        config = language_model.config
        self.vocab_size = int(config.vocab_size)
        self.num_layers = int(config.num_hidden_layers)
        self.kv_heads = int(config.num_key_value_heads)
        self.head_dim = int(
            getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        )
        self.hidden_size = int(config.hidden_size)
        self.num_codebooks = int(rvq_depth_decoder.config.num_codebooks)
        self.audio_vocab_size = int(rvq_depth_decoder.config.audio_vocab_size)
        # Graphs of the call in progress, by KV length. They hold the addresses of
        # that call's buffers, so they never outlive it.
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}

    # ----------------------------------------------------------------- public

    @torch.no_grad()
    def generate(
        self, requests: Sequence[ARRequest], options: FastLoopOptions | None = None
    ) -> list[torch.Tensor]:
        """Frame hiddens ``[1, frames, codebooks * hidden]`` per request, as the reference makes."""
        options = options or FastLoopOptions()
        if not requests:
            return []
        device = requests[0].text_ids.device
        dtype = self.lm.model.embed_tokens.weight.dtype
        max_frames = [min(int(r.max_frames), MAX_AUDIO_FRAMES) for r in requests]
        if min(max_frames) <= 0:
            raise ValueError("every request needs at least one audio frame")
        prompt_lengths = [int(r.text_ids.shape[1]) for r in requests]
        frames_needed = max(max_frames)
        max_len = max(prompt_lengths) + frames_needed + 2
        use_graphs = bool(options.cuda_graphs and device.type == "cuda" and options.record is None)
        if use_graphs or options.bucketed_eager:
            max_len = _round_up(max_len, options.kv_bucket)

        rows = self._prefill(requests, max_len, frames_needed, dtype, device)
        self._graphs.clear()
        try:
            return self._run(
                rows, requests, max_frames, frames_needed, max_len, use_graphs, options
            )
        finally:
            self._graphs.clear()

    def _run(
        self,
        rows: _Rows,
        requests: Sequence[ARRequest],
        max_frames: list[int],
        frames_needed: int,
        max_len: int,
        use_graphs: bool,
        options: FastLoopOptions,
    ) -> list[torch.Tensor]:
        device = rows.last_hidden.device
        generators = [r.generator for r in requests]
        prompt_lengths = [int(r.text_ids.shape[1]) for r in requests]
        vocab_mask = torch.ones(self.vocab_size, dtype=torch.bool, device=device)
        vocab_mask[AUDIO_CODE_OFFSET : AUDIO_CODE_OFFSET + SEMANTIC_VOCAB_SIZE] = False
        vocab_mask[AUDIO_END_TOKEN_ID] = False

        snapshots: list[tuple[int, list[torch.Tensor | None]]] = []
        # Host-side mirror of the row lengths: they advance by one per frame, so the
        # host knows them without asking the device.
        host_lengths = [length for length in prompt_lengths for _ in range(2)]
        frame = 0
        stopped = False
        while frame <= frames_needed and not stopped:
            if frame % options.sync_every == 0:
                if frame > 0 and self._all_stopped(rows, max_frames, frame):
                    stopped = True
                    break
                snapshots.append((frame, [_get_state(g) for g in generators]))
            kv_len = max(host_lengths) + 1
            uniform = len(set(host_lengths)) == 1
            if use_graphs:
                kv_len = min(_round_up(kv_len, options.kv_bucket), max_len)
                try:
                    self._graph_step(rows, vocab_mask, generators, kv_len)
                except RuntimeError as exc:  # capture is best effort; eager is always right
                    log.warning("CUDA graph capture failed (%s); continuing without graphs", exc)
                    use_graphs = False
                    # kv_len is bucket-rounded here: mask what lies past each row.
                    self._eager_step(rows, vocab_mask, generators, kv_len, True, None)
            else:
                self._eager_step(rows, vocab_mask, generators, kv_len, not uniform, options.record)
            host_lengths = [length + 1 for length in host_lengths]
            frame += 1
            if options.progress is not None and frame % options.sync_every == 0:
                options.progress(frame, frames_needed + 1)

        end_frames = [int(value) for value in rows.end_frame.tolist()]
        results: list[torch.Tensor] = []
        for index, request in enumerate(requests):
            end = end_frames[index]
            ended = 0 <= end <= max_frames[index]
            stop_frame = end if ended else max_frames[index]
            self._rewind_generator(index, request.generator, snapshots, stop_frame, ended)
            emitted = stop_frame - 1 if ended else max_frames[index]
            if emitted <= 0:
                raise ValueError(
                    "MiniMax Music 3 generated zero audio frames; "
                    "the prompt ended generation immediately"
                )
            results.append(rows.out_hiddens[index : index + 1, :emitted].clone())
        return results

    # --------------------------------------------------------------- prefill

    def _prefill(
        self,
        requests: Sequence[ARRequest],
        max_len: int,
        frames_needed: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> _Rows:
        batch = len(requests)
        rows2 = 2 * batch
        keys = [
            torch.zeros(rows2, self.kv_heads, max_len, self.head_dim, dtype=dtype, device=device)
            for _ in range(self.num_layers)
        ]
        values = [torch.zeros_like(k) for k in keys]
        last_hidden = torch.zeros(rows2, self.hidden_size, dtype=dtype, device=device)
        lengths = torch.zeros(rows2, dtype=torch.long, device=device)
        for index, request in enumerate(requests):
            # The prompt pass is the reference's own call: it runs once per song.
            embeds = self.lm.model.embed_tokens(request.text_ids)
            output = self.lm.model(inputs_embeds=embeds, use_cache=True)
            cache = output.past_key_values
            length = int(request.text_ids.shape[1])
            for layer in range(self.num_layers):
                layer_keys, layer_values = _cache_layer(cache, layer)
                keys[layer][2 * index : 2 * index + 2, :, :length] = layer_keys
                values[layer][2 * index : 2 * index + 2, :, :length] = layer_values
            last_hidden[2 * index : 2 * index + 2] = output.last_hidden_state[:, -1]
            lengths[2 * index : 2 * index + 2] = length
        return _Rows(
            last_hidden=last_hidden,
            lengths=lengths,
            frame_index=torch.zeros((), dtype=torch.long, device=device),
            end_frame=torch.full((batch,), -1, dtype=torch.long, device=device),
            out_hiddens=torch.zeros(
                batch,
                max(frames_needed, 1),
                self.num_codebooks * self.hidden_size,
                dtype=dtype,
                device=device,
            ),
            keys=keys,
            values=values,
        )

    # ------------------------------------------------------------ one frame

    def _eager_step(
        self,
        rows: _Rows,
        vocab_mask: torch.Tensor,
        generators: Sequence[torch.Generator | None],
        kv_len: int,
        masked: bool,
        record: list[tuple[str, int, torch.Tensor]] | None,
    ) -> None:
        """One frame for every row, in place on ``rows`` (the body a CUDA graph captures)."""
        lm = self.lm
        logits = lm.lm_head(rows.last_hidden).float()
        logits = logits.masked_fill(vocab_mask, -float("inf"))
        conditional, unconditional = logits[0::2], logits[1::2]
        guided = unconditional + (conditional - unconditional) * AR_CFG_SCALE
        threshold = torch.topk(conditional, AR_CFG_TOP_K, dim=-1).values[..., -1, None]
        guided = guided.masked_fill(conditional < threshold, -float("inf"))
        guided = guided.masked_fill(vocab_mask.unsqueeze(0), -float("inf"))
        _record(record, "semantic", guided)
        sampled = sample_top_k_rows(guided, generators)

        is_end = (sampled == AUDIO_END_TOKEN_ID) & (rows.end_frame < 0)
        rows.end_frame.copy_(torch.where(is_end, rows.frame_index, rows.end_frame))

        semantic_code = (sampled - AUDIO_CODE_OFFSET).repeat_interleave(2)
        frame_codes, depth_hidden = self._depth_codes(
            rows.last_hidden, semantic_code, generators, record
        )
        frame_hidden = torch.cat((rows.last_hidden[0::2], depth_hidden), dim=-1)
        # Frame 0 only advances past <|audio_start|> and is not emitted; it lands in
        # slot 0 and frame 1 overwrites it.
        slot = (rows.frame_index - 1).clamp(min=0).view(1)
        rows.out_hiddens.index_copy_(1, slot, frame_hidden.unsqueeze(1))

        feedback = self._embed_audio_frame(frame_codes)
        hidden = self._decode(feedback, rows, kv_len, masked)
        rows.last_hidden.copy_(hidden)
        rows.lengths.add_(1)
        rows.frame_index.add_(1)

    def _depth_codes(
        self,
        last_hidden: torch.Tensor,
        semantic_code: torch.Tensor,
        generators: Sequence[torch.Generator | None],
        record: list[tuple[str, int, torch.Tensor]] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # The reference's _generate_depth_codes over 2B rows. The depth sequence is
        # at most 8 long, so re-running it costs the same weight reads as a KV cache
        # would, and keeps the reference's exact arithmetic.
        lm, dd = self.lm, self.dd
        sequence = [dd.projection(last_hidden).unsqueeze(1)]
        code_embed = lm.model.embed_tokens(semantic_code + AUDIO_CODE_OFFSET)
        sequence.append(dd.projection(code_embed).unsqueeze(1))
        codes = [semantic_code]
        hidden_parts = []
        for index in range(1, self.num_codebooks):
            hidden = dd(torch.cat(sequence, dim=1))[:, -1]
            hidden_parts.append(hidden[0::2])
            logits = dd.audio_heads[index - 1](hidden)
            conditional, unconditional = logits[0::2].float(), logits[1::2].float()
            guided = unconditional + (conditional - unconditional) * AR_CFG_SCALE
            _record(record, f"depth{index}", guided)
            code = sample_top_k_rows(guided, generators).repeat_interleave(2)
            codes.append(code)
            if index < self.num_codebooks - 1:
                embed = dd.audio_embeddings(code + (index - 1) * self.audio_vocab_size)
                sequence.append(dd.projection(embed).unsqueeze(1))
        return torch.stack(codes, dim=1), torch.cat(hidden_parts, dim=-1)

    def _embed_audio_frame(self, frame_codes: torch.Tensor) -> torch.Tensor:
        lm, dd = self.lm, self.dd
        embeds = lm.model.embed_tokens(frame_codes[:, :1] + AUDIO_CODE_OFFSET)
        offsets = (
            torch.arange(self.num_codebooks - 1, device=frame_codes.device) * self.audio_vocab_size
        ).unsqueeze(0)
        extra = dd.audio_embeddings(frame_codes[:, 1:] + offsets).sum(dim=1, keepdim=True)
        embeds = embeds + extra.to(embeds.dtype)
        return embeds * self.num_codebooks**-0.5  # type: ignore[no-any-return]

    def _decode(self, inputs: torch.Tensor, rows: _Rows, kv_len: int, masked: bool) -> torch.Tensor:
        """One token per row through the language model, using the static KV cache.

        The layer modules (norms, projections, MLP, rotary table) are the model's
        own; only the cache write and the single-query attention are ours.
        """
        from transformers.models.qwen3.modeling_qwen3 import apply_rotary_pos_emb

        model = self.lm.model
        batch_rows = inputs.shape[0]
        positions = rows.lengths.view(batch_rows, 1)
        hidden = inputs
        cos, sin = model.rotary_emb(hidden, positions)
        row_index = torch.arange(batch_rows, device=inputs.device)
        if kv_len > int(rows.keys[0].shape[2]):
            raise ValueError(f"KV length {kv_len} exceeds the static cache")
        attn_mask = None
        if masked:
            # Positions past a row's own length hold zeros or stale entries: mask them.
            # Unmasked, every row is exactly kv_len long and the attention is the
            # reference's own (one query over all cached positions).
            span = torch.arange(kv_len, device=inputs.device).view(1, 1, 1, kv_len)
            attn_mask = span <= rows.lengths.view(batch_rows, 1, 1, 1)
        for layer_index, layer in enumerate(model.layers):
            attention = layer.self_attn
            residual = hidden
            normed = layer.input_layernorm(hidden)
            shape = (batch_rows, 1, -1, self.head_dim)
            query = attention.q_norm(attention.q_proj(normed).view(shape)).transpose(1, 2)
            key = attention.k_norm(attention.k_proj(normed).view(shape)).transpose(1, 2)
            value = attention.v_proj(normed).view(shape).transpose(1, 2)
            query, key = apply_rotary_pos_emb(query, key, cos, sin)
            keys, values = rows.keys[layer_index], rows.values[layer_index]
            keys[row_index, :, rows.lengths] = key[:, :, 0]
            values[row_index, :, rows.lengths] = value[:, :, 0]
            attended = _attend(
                query,
                keys[:, :, :kv_len],
                values[:, :, :kv_len],
                attn_mask,
                float(attention.scaling),
            )
            attended = attended.transpose(1, 2).reshape(batch_rows, 1, -1)
            hidden = residual + attention.o_proj(attended)
            residual = hidden
            hidden = residual + layer.mlp(layer.post_attention_layernorm(hidden))
        hidden = model.norm(hidden)
        return hidden[:, -1]  # type: ignore[no-any-return]

    # ------------------------------------------------------------ CUDA graphs

    def _graph_step(
        self,
        rows: _Rows,
        vocab_mask: torch.Tensor,
        generators: Sequence[torch.Generator | None],
        kv_len: int,
    ) -> None:
        graph = self._graphs.get(kv_len)
        if graph is None:
            graph = self._capture(rows, vocab_mask, generators, kv_len)
            self._graphs[kv_len] = graph
        graph.replay()

    def _capture(
        self,
        rows: _Rows,
        vocab_mask: torch.Tensor,
        generators: Sequence[torch.Generator | None],
        kv_len: int,
    ) -> torch.cuda.CUDAGraph:
        # Warm up on a side stream (cuBLAS and the allocator set themselves up there),
        # then put back everything the warm-up changed: the KV positions it wrote are
        # written again by the real step, the small state and the generators are restored.
        small_state = (rows.last_hidden, rows.lengths, rows.frame_index, rows.end_frame)
        saved = [t.clone() for t in small_state]
        states = [_get_state(g) for g in generators]
        stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        stream.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(stream):
                self._eager_step(rows, vocab_mask, generators, kv_len, True, None)
        finally:
            torch.cuda.current_stream().wait_stream(stream)
            self._restore(rows, saved, generators, states)
        graph = torch.cuda.CUDAGraph()
        try:
            for generator in generators:
                if generator is not None and generator.device.type == "cuda":
                    graph.register_generator_state(generator)
            with torch.cuda.graph(graph):
                self._eager_step(rows, vocab_mask, generators, kv_len, True, None)
        except RuntimeError:
            # Capture runs nothing, but a failed one may leave generator offsets moved.
            self._restore(rows, saved, generators, states)
            raise
        return graph

    @staticmethod
    def _restore(
        rows: _Rows,
        saved: list[torch.Tensor],
        generators: Sequence[torch.Generator | None],
        states: list[torch.Tensor | None],
    ) -> None:
        for target, value in zip(
            (rows.last_hidden, rows.lengths, rows.frame_index, rows.end_frame), saved, strict=True
        ):
            target.copy_(value)
        for generator, state in zip(generators, states, strict=True):
            if generator is not None and state is not None:
                generator.set_state(state)

    # ------------------------------------------------------------ bookkeeping

    @staticmethod
    def _all_stopped(rows: _Rows, max_frames: Sequence[int], frame: int) -> bool:
        # The one host sync per ``sync_every`` frames.
        end_frames = rows.end_frame.tolist()
        return all(
            0 <= end <= limit or frame > limit
            for end, limit in zip(end_frames, max_frames, strict=True)
        )

    def _rewind_generator(
        self,
        request_index: int,
        generator: torch.Generator | None,
        snapshots: Sequence[tuple[int, list[torch.Tensor | None]]],
        stop_frame: int,
        ended: bool,
    ) -> None:
        """Leave ``generator`` where the reference leaves it after this song's last frame.

        The batch may have run frames past this song's end; restore the snapshot
        taken at or before ``stop_frame`` and redraw exactly the random numbers the
        reference draws from there (the values are not used, only the stream position).
        """
        if generator is None:
            return
        start, states = next(
            (frame, states) for frame, states in reversed(snapshots) if frame <= stop_frame
        )
        state = states[request_index]
        if state is None:
            return
        generator.set_state(state)
        device = generator.device
        for frame in range(start, stop_frame + 1):
            _exponential((1, self.vocab_size), generator, device)
            if frame == stop_frame and ended:
                break
            for _ in range(1, self.num_codebooks):
                _exponential((1, self.audio_vocab_size), generator, device)


def _record(
    record: list[tuple[str, int, torch.Tensor]] | None, stage: str, guided: torch.Tensor
) -> None:
    if record is None:
        return
    for index in range(guided.shape[0]):
        record.append((stage, index, guided[index : index + 1].detach().clone()))


def _attend(
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    """One query token per row over the cached keys, grouped-query style, never copying K/V.

    Unmasked (every row exactly as long as the slice), this is the call transformers
    makes for a decode step, so results match the reference bit for bit. Masked
    (rows of different lengths, or bucketed lengths under CUDA graphs), the query
    heads that share a KV head are laid along the query axis (transformers'
    ``pack_gqa``): SDPA's masked kernels would otherwise repeat K and V per head.
    """
    if mask is None:
        return F.scaled_dot_product_attention(query, keys, values, scale=scale, enable_gqa=True)
    rows, heads, _, dim = query.shape
    kv_heads = keys.shape[1]
    packed = query.reshape(rows, kv_heads, heads // kv_heads, dim)
    out = F.scaled_dot_product_attention(packed, keys, values, attn_mask=mask, scale=scale)
    return out.reshape(rows, heads, 1, dim)


def _cache_layer(cache: Any, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(cache, "layers"):
        entry = cache.layers[layer]
        return entry.keys, entry.values
    return cache.key_cache[layer], cache.value_cache[layer]  # older transformers


def _get_state(generator: torch.Generator | None) -> torch.Tensor | None:
    return generator.get_state() if generator is not None else None


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
