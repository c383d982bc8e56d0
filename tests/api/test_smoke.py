from tests.conftest import LiveServer


def test_create_poll_download(live_server: LiveServer) -> None:
    with live_server.client() as client:
        created = client.post(
            "/api/v1/audio/music",
            json={"model": "minimax-music", "prompt": "calm piano", "lyrics": "la la"},
        )
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        done = live_server.wait_for(task_id)
        assert done["status"] == "completed", done
        audio = client.get(done["output"]["audio_url"])
        assert audio.status_code == 200
        assert audio.headers["content-type"] == "audio/mpeg"
