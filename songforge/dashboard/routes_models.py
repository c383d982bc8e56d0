"""A page per live model, generated from the catalog, with the API tester."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from songforge.api.catalog_view import feature_labels
from songforge.audio.mp3 import ALLOWED_BITRATES, ALLOWED_SAMPLE_RATES
from songforge.dashboard.model_docs import EXAMPLE_LYRICS, EXAMPLE_PROMPT, build_model_docs
from songforge.dashboard.routes_tasks import base_url
from songforge.dashboard.web import OptionalVisitor, PageError, context_of, render
from songforge.services.music_request import (
    DEFAULT_BITRATE,
    DEFAULT_SAMPLE_RATE,
    LYRICS_MAX,
    PROMPT_MAX,
)

router = APIRouter()


@router.get("/models")
def models_index(request: Request, visitor: OptionalVisitor) -> Response:
    context = context_of(request)
    return render(
        request,
        "models.html",
        title="Models",
        models=context.live_models(),
        feature_labels=feature_labels,
    )


@router.get("/models/{model_id}")
def model_page(model_id: str, request: Request, visitor: OptionalVisitor) -> Response:
    context = context_of(request)
    spec = next((m for m in context.live_models() if m.id == model_id), None)
    if spec is None:
        raise PageError(
            404,
            "Model not available",
            f"There is no live model {model_id!r} here; the models page lists the ones that are.",
            link=("/models", "See the models"),
        )
    docs = build_model_docs(spec, base_url(context, request))
    return render(
        request,
        "model.html",
        title=spec.name,
        docs=docs,
        spec=spec,
        bitrates=ALLOWED_BITRATES,
        sample_rates=ALLOWED_SAMPLE_RATES,
        default_bitrate=DEFAULT_BITRATE,
        default_sample_rate=DEFAULT_SAMPLE_RATE,
        prompt_max=PROMPT_MAX,
        lyrics_max=LYRICS_MAX,
        example_prompt=EXAMPLE_PROMPT,
        example_lyrics=EXAMPLE_LYRICS,
        signed_in=visitor.signed_in,
        feature_labels=feature_labels,
    )
