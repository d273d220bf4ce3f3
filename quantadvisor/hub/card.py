"""What a repo's model card declares about it: the base models it was made from (``base_model:`` metadata)."""

from __future__ import annotations

from .failures import translate_error
from .refs import check_repo_id
from .settings import is_offline, resolve_endpoint, resolve_timeout

__all__ = ["fetch_base_models"]


def fetch_base_models(repo_id: str, revision: str | None = None) -> list[str]:
    """Return the base model ids a repo's model card names, as the Hub lists them; [] when offline."""
    check_repo_id(repo_id, revision)
    from huggingface_hub import HfApi  # ~0.2 s to import: Hub paths only

    if is_offline():
        return []
    api = HfApi(endpoint=resolve_endpoint(None))
    try:
        info = api.model_info(repo_id, revision=revision, timeout=resolve_timeout(None))
    except Exception as exc:
        error = translate_error(exc, repo_id=repo_id, revision=revision, endpoint=api.endpoint)
        if error is None:
            raise
        raise error from exc
    declared = info.card_data.get("base_model") if info.card_data is not None else None
    bases = [declared] if isinstance(declared, str) else [b for b in declared or [] if isinstance(b, str)]
    bases += [t.rsplit(":", 1)[-1] for t in info.tags or [] if t.startswith("base_model:")]
    return [b for i, b in enumerate(bases) if b not in bases[:i] and b != repo_id]
