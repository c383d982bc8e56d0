from pathlib import Path

import pytest

from songforge.app import create_app
from songforge.settings import Settings


def test_production_mode_refuses_insecure_settings(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="PUBLIC_URL"):
        create_app(Settings(data_dir=tmp_path, production=True))
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(
            Settings(data_dir=tmp_path, production=True, public_url="https://x", secret_key="short")
        )
    app = create_app(Settings(data_dir=tmp_path, production=True, public_url="https://x"))
    app.state.context.db.dispose()


def test_generated_secret_is_persisted_not_hard_coded(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key()
    again = Settings(data_dir=tmp_path).resolved_secret_key()
    other = Settings(data_dir=tmp_path / "other").resolved_secret_key()
    assert first == again and first != other and len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
