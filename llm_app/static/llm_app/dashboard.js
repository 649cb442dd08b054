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

  function renderLane(lane, total, state) {
    const box = document.getElementById("race-" + lane.name);
    box.querySelector(".lane-server").textContent = lane.server;
    const finished = lane.finished_s === null ? "" : ", all done after " + lane.finished_s + " s";
    box.querySelector(".lane-summary").textContent =
      lane.streaming + " streaming, " + lane.done + " of " + lane.states.length + " done" + finished;
    box.dataset.done = String(lane.done);
    box.dataset.streaming = String(lane.streaming);
    const bars = box.querySelector(".bars");
    if (bars.children.length !== lane.states.length) {
      bars.replaceChildren(
        ...lane.states.map((_, i) => {
          const bar = document.createElement("div");
          bar.className = "race-bar";
          bar.dataset.user = String(i + 1);
          bar.title = "user " + (i + 1);
          const fill = document.createElement("span");
          fill.className = "fill";
          bar.append(fill);
          return bar;
        }),
      );
    }
    lane.states.forEach((userState, i) => {
      const bar = bars.children[i];
      bar.dataset.state = userState;
      bar.dataset.tokens = String(lane.tokens[i]);
      bar.firstChild.style.width = Math.min(100, (100 * lane.tokens[i]) / total) + "%";
    });
  }

  function renderRace(state) {
    race.dataset.state = state.state;
    race.dataset.elapsed = String(state.elapsed_s);
    raceStatus.textContent = state.state + (state.state === "running" || state.state === "done" ? " (" + state.elapsed_s + " s)" : "") +
      (state.error ? ": " + state.error : "");
    raceStart.disabled = state.state === "starting" || state.state === "running";
    for (const lane of Object.values(state.lanes)) renderLane(lane, state.tokens_per_answer, state.state);
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
