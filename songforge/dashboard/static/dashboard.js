// The dashboard's only script: copy buttons, confirmations, the API tester, and the
// timed lyrics of a task's page.
// Pages work without it, except the tester, which needs fetch().
"use strict";

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function copyText(text, button) {
    var scope = button.closest("section") || document;
    var status = scope.querySelector(".copy-status");
    function done(message) {
      if (status) status.textContent = message;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { done("Copied to the clipboard."); },
        function () { done("Select the text and copy it by hand."); }
      );
    } else {
      done("Select the text and copy it by hand.");
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    if (source.select) source.select();
    copyText(source.value !== undefined ? source.value : source.textContent, button);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function initTester(form) {
    var model = form.getAttribute("data-model");
    var submit = document.getElementById("t-submit");
    var result = document.getElementById("t-result");
    var status = document.getElementById("t-status");
    var progress = document.getElementById("t-progress");
    var errorBox = document.getElementById("t-error");
    var player = document.getElementById("t-player");
    var audio = document.getElementById("t-audio");
    var download = document.getElementById("t-download");
    var details = document.getElementById("t-details");
    var waveform = document.getElementById("t-waveform");
    var createJson = document.getElementById("t-create-json");
    var taskJson = document.getElementById("t-task-json");
    var pollTimer = null;

    // Nothing of an earlier song may show while a new one is made or after a failure.
    function resetPlayer() {
      player.hidden = true;
      audio.pause();
      audio.removeAttribute("src");
      audio.load();
      download.removeAttribute("href");
      details.setAttribute("href", "#");
      waveform.removeAttribute("src");
    }

    function showError(envelope, fallback, httpStatus) {
      var error = envelope && envelope.error;
      var text = error ? error.message + (error.param ? " (field: " + error.param + ")" : "") : fallback;
      resetPlayer();
      errorBox.textContent = text;
      if (httpStatus === 402 || (error && error.type === "insufficient_credits")) {
        var link = document.createElement("a");
        link.href = "/dashboard/credits";
        link.textContent = "Top up your credits";
        errorBox.appendChild(document.createTextNode(" "));
        errorBox.appendChild(link);
        errorBox.appendChild(document.createTextNode("."));
      }
      errorBox.hidden = false;
      status.textContent = "Failed.";
      submit.disabled = false;
    }

    function call(method, url, body) {
      var options = {
        method: method,
        credentials: "same-origin",
        headers: { "Accept": "application/json" },
      };
      if (body !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.headers["X-CSRF-Token"] = csrfToken();
        options.body = JSON.stringify(body);
      }
      return fetch(url, options).then(function (response) {
        return response.json().then(function (json) {
          return { ok: response.ok, status: response.status, json: json };
        }, function () {
          return { ok: false, status: response.status, json: null };
        });
      });
    }

    function describe(task) {
      if (task.status === "completed") return "Completed: your song is ready.";
      if (task.status === "failed") return "Failed.";
      var text = "Working: " + task.stage;
      if (task.stage_detail) text += " (" + task.stage_detail + ")";
      text += ", " + task.progress + "%";
      if (task.stage === "queued" && task.queue_position != null) text += ", position " + task.queue_position + " in the queue";
      if (task.eta_seconds != null) text += ", about " + task.eta_seconds + " s left";
      return text;
    }

    function poll(taskId) {
      call("GET", "/dashboard/api/tasks/" + encodeURIComponent(taskId)).then(function (answer) {
        if (!answer.ok) {
          showError(answer.json, "Could not read the task.", answer.status);
          return;
        }
        var task = answer.json.data;
        taskJson.textContent = JSON.stringify(answer.json, null, 2);
        progress.value = task.progress;
        progress.textContent = task.progress + "%";
        status.textContent = describe(task);
        if (task.status === "IN_PROGRESS") {
          pollTimer = window.setTimeout(function () { poll(taskId); }, 1000);
          return;
        }
        submit.disabled = false;
        if (task.status === "completed") {
          audio.src = task.output.audio_url;
          download.href = task.output.audio_url;
          download.setAttribute("download", task.task_id + ".mp3");
          waveform.src = "/dashboard/tasks/" + encodeURIComponent(task.task_id) + "/waveform.svg";
          details.href = "/dashboard/tasks/" + encodeURIComponent(task.task_id);
          player.hidden = false;
        } else {
          showError({ error: task.error }, "The task failed.");
        }
      }, function () {
        showError(null, "The network request failed; is the server up?");
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (pollTimer) window.clearTimeout(pollTimer);
      var body = {
        model: model,
        prompt: form.elements.prompt.value,
        lyrics: form.elements.lyrics.value,
        bitrate: parseInt(form.elements.bitrate.value, 10),
        sample_rate: parseInt(form.elements.sample_rate.value, 10),
      };
      result.hidden = false;
      errorBox.hidden = true;
      resetPlayer();
      progress.value = 0;
      taskJson.textContent = "";
      status.textContent = "Sending…";
      submit.disabled = true;
      call("POST", "/dashboard/api/music", body).then(function (answer) {
        createJson.textContent = answer.json ? JSON.stringify(answer.json, null, 2) : "";
        if (!answer.ok) {
          showError(answer.json, "The request was refused.", answer.status);
          return;
        }
        status.textContent = "Queued.";
        poll(answer.json.data.task_id);
      }, function () {
        showError(null, "The network request failed; is the server up?");
      });
    });
  }

  // Timed lyrics on a task's page: the line being sung follows the player's
  // currentTime (as it plays, and at once on a seek); a line is current from its
  // start until the next line starts. Clicking a line plays from there.
  function initSyncedLyrics(list) {
    var section = list.closest("section");
    var player = document.querySelector(".player audio");
    if (!player) return;
    var lines = Array.prototype.slice.call(list.querySelectorAll("li[data-start]"));
    var starts = lines.map(function (li) { return parseFloat(li.getAttribute("data-start")); });
    var words = Array.prototype.slice.call(list.querySelectorAll(".lyric-word"));
    var wordStarts = words.map(function (w) { return parseFloat(w.getAttribute("data-start")); });
    var current = -1;
    var frame = 0;

    function lineAt(time) {
      var found = -1;
      for (var i = 0; i < starts.length && starts[i] <= time; i++) found = i;
      return found;
    }

    function show() {
      var time = player.currentTime;
      var index = lineAt(time);
      if (index !== current) {
        if (current >= 0) {
          lines[current].classList.remove("current");
          lines[current].removeAttribute("aria-current");
        }
        if (index >= 0) {
          lines[index].classList.add("current");
          lines[index].setAttribute("aria-current", "true");
        }
        current = index;
      }
      for (var k = 0; k < words.length; k++) {
        words[k].classList.toggle("sung", wordStarts[k] <= time);
      }
    }

    // timeupdate comes about four times a second; while playing, follow every frame.
    function follow() {
      show();
      frame = player.paused ? 0 : window.requestAnimationFrame(follow);
    }

    ["timeupdate", "seeked", "seeking", "loadedmetadata"].forEach(function (name) {
      player.addEventListener(name, show);
    });
    player.addEventListener("play", function () {
      if (!frame) frame = window.requestAnimationFrame(follow);
    });
    list.addEventListener("click", function (event) {
      var li = event.target.closest("li[data-start]");
      if (!li) return;
      player.currentTime = parseFloat(li.getAttribute("data-start"));
      player.play();
    });
    if (section) section.setAttribute("data-following", "true");
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("tester-form");
    if (form) initTester(form);
    var lyrics = document.querySelector("[data-synced-lyrics]");
    if (lyrics) initSyncedLyrics(lyrics);
  });
})();
