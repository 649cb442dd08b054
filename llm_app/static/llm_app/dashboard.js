// The admin dashboard's live figures: one WebSocket to /ws/admin/dashboard/, merged figures of every server process.
// Plain JS, no build step, no chart library. Values are set with textContent and mirrored in data-value, which the
// browser tests wait on (e.g. #in-flight[data-value="1"]).
"use strict";

(() => {
  const live = document.getElementById("live");
  if (!live) return;
  const stateLabel = document.getElementById("live-state");
  const processes = document.querySelector("#processes tbody");
  const url = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + live.dataset.socket;
  let retryMs = 500;
  let socket = null;

  // ---- the race ----
  const race = document.getElementById("race");
  const raceStatus = document.getElementById("race-status");
  const raceStart = document.getElementById("race-start");
  const raceUsers = document.getElementById("race-users");

  const racePhase = document.getElementById("race-phase");
  const seconds = (value) => (value === null || value === undefined ? "\u2013" : value.toFixed(2) + " s");

  // The axis is whole LLM calls long, just enough for the time so far (a race a tenth of a call over 3 calls
  // gets 3 ticks, not an empty fourth call): both lanes share it.
  function axisOf(state) {
    const unit = state.call_s || 1;
    const calls = Math.max(1, Math.ceil(state.elapsed_s / unit - 0.1));
    return { unit, calls, length: Math.max(calls * unit, state.elapsed_s), counted: Boolean(state.call_s) };
  }

  function renderAxis(box, axis, shown) {
    const element = box.querySelector(".axis");
    element.hidden = !shown;
    const step = Math.max(1, Math.ceil(axis.calls / 12));
    const ticks = [];
    for (let k = 0; k <= axis.calls; k += step) {
      const tick = document.createElement("span");
      tick.className = "tick";
      tick.style.left = (100 * k * axis.unit) / axis.length + "%";
      tick.textContent = axis.counted ? (k === 0 ? "0" : k + "\u00d7") : (k * axis.unit).toFixed(0) + " s";
      tick.title = axis.counted ? k + " LLM call(s): " + (k * axis.unit).toFixed(2) + " s" : "";
      ticks.push(tick);
    }
    element.replaceChildren(...ticks);
  }

  function placeSegment(segment, from, to, axis) {
    const left = Math.max(0, Math.min(1, from / axis.length));
    const right = Math.max(left, Math.min(1, to / axis.length));
    segment.hidden = !(to > from);
    segment.style.left = 100 * left + "%";
    segment.style.width = 100 * (right - left) + "%";
  }

  function renderRow(row, user, index, now, axis) {
    row.dataset.state = user.state;
    row.dataset.tokens = String(user.tokens);
    for (const key of ["sent_s", "first_s", "end_s", "queued_s"]) {
      row.dataset[key.replace("_s", "")] = user[key] === null ? "" : String(user[key]);
    }
    const [wait, stream] = row.children;
    const sent = user.sent_s ?? now;
    const first = user.first_s ?? user.end_s ?? now;
    placeSegment(wait, sent, first, axis);
    placeSegment(stream, user.first_s ?? first, user.end_s ?? now, axis);
    row.title =
      "user " + (index + 1) + ": " + user.state + ", " + user.tokens + " tokens; sent at " + seconds(user.sent_s) +
      ", first token at " + seconds(user.first_s) + ", last at " + seconds(user.end_s) +
      (user.queued_s === null ? "" : "; queued " + seconds(user.queued_s) + ", LLM call " + seconds(user.call_s));
  }

  function renderLane(lane, state, axis) {
    const box = document.getElementById("race-" + lane.name);
    const count = lane.users.length;
    box.dataset.done = String(lane.done);
    box.dataset.streaming = String(lane.streaming);
    box.dataset.waiting = String(lane.waiting);
    box.dataset.errors = String(lane.errors);
    box.dataset.finished = lane.finished_s === null ? "" : String(lane.finished_s);
    const parts = [lane.waiting + " waiting", lane.streaming + " streaming", lane.done + " of " + count + " done"];
    if (lane.errors) parts.push(lane.errors + " failed");
    let summary = parts.join(", ");
    if (lane.finished_s !== null) {
      summary = "last user served at " + seconds(lane.finished_s) +
        (state.call_s ? " (" + (lane.finished_s / state.call_s).toFixed(1) + " LLM calls)" : "") +
        (lane.errors ? ", " + lane.errors + " failed" : "");
    }
    box.querySelector(".lane-summary").textContent = state.state === "starting" ? "waiting for the servers" : summary;
    const rows = box.querySelector(".rows");
    if (rows.children.length !== count) {
      rows.style.setProperty("--row-height", Math.max(3, Math.min(10, Math.floor(300 / count) - 1)) + "px");
      rows.replaceChildren(
        ...lane.users.map((_, i) => {
          const row = document.createElement("div");
          row.className = "race-row";
          row.dataset.user = String(i + 1);
          const wait = document.createElement("span");
          wait.className = "seg seg-wait";
          const stream = document.createElement("span");
          stream.className = "seg seg-stream";
          row.append(wait, stream);
          return row;
        }),
      );
    }
    lane.users.forEach((user, i) => renderRow(rows.children[i], user, i, state.elapsed_s, axis));
    const finish = box.querySelector(".finish-line");
    finish.hidden = lane.finished_s === null;
    if (lane.finished_s !== null) {
      finish.style.left = (100 * lane.finished_s) / axis.length + "%";
      finish.firstChild.textContent = seconds(lane.finished_s);
    }
    renderAxis(box, axis, state.state !== "starting");
  }

  function statusOf(state) {
    const lanes = Object.values(state.lanes);
    if (state.state === "starting") return "starting (" + seconds(state.startup_s) + ")";
    if (state.state === "running") return "running: " + seconds(state.elapsed_s);
    if (state.state === "done") {
      return "done in " + seconds(state.elapsed_s) + ", when its last user was served (" +
        lanes.map((lane) => lane.server + " " + seconds(lane.finished_s)).join(", ") + "); the servers took " +
        seconds(state.startup_s) + " to get ready";
    }
    return "error: " + state.error;
  }

  function renderRace(state) {
    race.dataset.state = state.state;
    race.dataset.elapsed = String(state.elapsed_s);
    race.dataset.callS = state.call_s === null ? "" : String(state.call_s);
    raceStatus.textContent = statusOf(state);
    racePhase.hidden = state.state !== "starting";
    racePhase.textContent = state.state === "starting" ? state.phase : "";
    race.dataset.phase = state.phase;
    raceStart.disabled = state.state === "starting" || state.state === "running";
    const axis = axisOf(state);
    race.dataset.axisS = String(axis.length);
    document.getElementById("race-axis-note").textContent = state.call_s
      ? "One row per user, from its request to its last token, on one time axis for both lanes. The axis counts " +
        "LLM calls: 1\u00d7 = " + seconds(state.call_s) + ", the median " + state.tokens_per_answer +
        "-token LLM call of this race as the servers timed it (until the first ends, the warm-up's)."
      : "One row per user, from its request to its last token, on one time axis for both lanes.";
    for (const lane of Object.values(state.lanes)) renderLane(lane, state, axis);
  }

  if (raceStart) {
    raceStart.addEventListener("click", () => {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      raceStart.disabled = true;
      race.dataset.state = "requested";
      raceStatus.textContent = "starting";
      socket.send(JSON.stringify({ type: "race.start", users: Number(raceUsers.value) }));
    });
  }

  function setState(state) {
    live.dataset.state = state;
    stateLabel.textContent = state;
  }

  function lookup(figures, path) {
    return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), figures);
  }

  function format(value, kind) {
    if (value === null || value === undefined) return "\u2013";
    if (kind === "percent") return (value * 100).toFixed(1) + " %";
    if (kind === "ms") return Math.round(value) + " ms";
    return String(value);
  }

  function render(figures) {
    for (const element of live.querySelectorAll("[data-figure]")) {
      const value = lookup(figures, element.dataset.figure);
      element.textContent = format(value, element.dataset.format);
      element.dataset.value = value === null || value === undefined ? "" : String(value);
    }
    processes.replaceChildren(
      ...figures.processes.map((p) => {
        const row = document.createElement("tr");
        for (const cell of [p.host, p.pid, p.interface, p.in_flight, p.threads, p.db_connections]) {
          const td = document.createElement("td");
          td.textContent = cell === null || cell === undefined ? "\u2013" : String(cell);
          row.append(td);
        }
        return row;
      }),
    );
  }

  function connect() {
    setState("connecting");
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      retryMs = 500;
      setState("live");
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "figures") render(message.figures);
      else if (message.type === "race") renderRace(message.race);
      else if (message.type === "race.refused") {
        raceStatus.textContent = message.message;
        race.dataset.refused = message.message;
        if (race.dataset.state === "requested") race.dataset.state = "idle";
        raceStart.disabled = false;
      }
    });
    socket.addEventListener("close", (event) => {
      // 4403: not staff (the session ended): reloading sends the browser to the login page.
      if (event.code === 4403) {
        setState("forbidden");
        return;
      }
      setState("closed");
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    });
  }

  connect();
})();
