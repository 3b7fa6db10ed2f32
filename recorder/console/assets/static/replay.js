// The session replay: plays /sessions/ID/timeline.json at its recorded
// pace. Served from 'self' under the console's CSP (no inline script, no
// eval). Every string of the timeline was chosen by a client, so it is
// only ever inserted as text (textContent), never as markup.
"use strict";
(function () {
  const root = document.getElementById("replay");
  const list = document.getElementById("replay-events");
  const play = document.getElementById("replay-play");
  const restart = document.getElementById("replay-restart");
  const speed = document.getElementById("replay-speed");
  const cap = document.getElementById("replay-cap");
  const progress = document.getElementById("replay-progress");
  const position = document.getElementById("replay-position");
  let events = [];
  let next = 0; // the index of the next event to show
  let timer = null;

  // offsetText is +HH:MM:SS.mmm, as gatehouse replay prints offsets.
  function offsetText(ms) {
    const pad = (n, w) => String(n).padStart(w, "0");
    return "+" + pad(Math.floor(ms / 3600000), 2) + ":" + pad(Math.floor(ms / 60000) % 60, 2) + ":" +
      pad(Math.floor(ms / 1000) % 60, 2) + "." + pad(ms % 1000, 3);
  }

  function cell(tag, cls, text) {
    const e = document.createElement(tag);
    e.className = cls;
    e.textContent = text;
    return e;
  }

  function show(ev) {
    const li = document.createElement("li");
    li.id = "replay-seq-" + ev.seq;
    if (ev.decision && ev.decision !== "allow") {
      li.classList.add("refused");
    }
    li.append(cell("span", "replay-offset", offsetText(ev.offset_ms)), " ", cell("span", "replay-type", ev.type), " ",
      cell("span", "replay-text", ev.text));
    if (ev.cut_bytes) {
      li.append(" ", cell("span", "cut", "(cut: " + ev.cut_bytes + " bytes in all; see the raw recording)"));
    }
    list.append(li);
  }

  function showPosition() {
    progress.value = next;
    const at = next > 0 ? events[next - 1].offset_ms : 0;
    const total = events.length > 0 ? events[events.length - 1].offset_ms : 0;
    let state = timer !== null ? "playing" : (next >= events.length ? "finished" : "paused");
    position.textContent = "event " + next + " of " + events.length + ", " + offsetText(at) + " of " + offsetText(total) + " (" + state + ")";
    play.textContent = timer !== null ? "Pause" : "Play";
    play.disabled = next >= events.length;
  }

  // delay is the pause before event i: the recorded gap, divided by the
  // speed, at most the chosen longest pause.
  function delay(i) {
    if (i === 0) {
      return 0;
    }
    let ms = (events[i].offset_ms - events[i - 1].offset_ms) / Number(speed.value);
    const most = Number(cap.value);
    if (most > 0 && ms > most) {
      ms = most;
    }
    return Math.max(0, ms);
  }

  function step() {
    timer = null;
    if (next >= events.length) {
      showPosition();
      return;
    }
    show(events[next]);
    next++;
    if (next < events.length) {
      timer = setTimeout(step, delay(next));
    }
    showPosition();
  }

  function pause() {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    showPosition();
  }

  play.addEventListener("click", () => {
    if (timer !== null) {
      pause();
      return;
    }
    timer = setTimeout(step, next === 0 ? 0 : delay(next));
    showPosition();
  });
  restart.addEventListener("click", () => {
    pause();
    list.replaceChildren();
    next = 0;
    showPosition();
  });

  fetch(root.dataset.timeline, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => {
      if (!r.ok) {
        throw new Error("the console answered " + r.status);
      }
      return r.json();
    })
    .then((t) => {
      events = Array.isArray(t.events) ? t.events : [];
      progress.max = events.length;
      restart.disabled = false;
      showPosition();
    })
    .catch((err) => {
      position.textContent = "the timeline could not be loaded: " + err.message;
    });
})();
