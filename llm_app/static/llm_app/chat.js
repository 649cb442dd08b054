// The chat page: streams replies over the sync view, the async view (SSE over a POST) or the Channels WebSocket.
// Plain JS, no build step. Text from the server is only ever set with textContent.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const chat = $("chat");
  const form = $("composer");
  const list = $("messages");
  const pathInput = $("path");
  const promptInput = $("prompt");
  const maxTokensInput = $("max-tokens");
  const sendButton = $("send");
  const stopButton = $("stop");
  const newButton = $("new-conversation");
  const conversationOutput = $("conversation-id");
  const wsStatus = $("ws-status");

  const HTTP_URLS = { sync: "/api/sync/stream", async: "/api/async/stream" };
  const WS_URL = (location.protocol === "https:" ? "wss" : "ws") + "://" + location.host + "/ws/chat/";
  const STOP_GRACE_MS = 5000; // after a WebSocket stop, how long to wait for the server's cancelled "done"

  let conversation = null; // the current conversation id, from the last "done"
  let epoch = 0; // bumped by "New conversation": a reply from before it does not bring the old id back
  let seq = 0;
  const running = new Map(); // generation id -> generation, in start order

  // ---- page state ----

  function updateState() {
    const busy = running.size > 0;
    const state = busy ? "streaming" : "idle";
    document.body.dataset.state = state;
    chat.dataset.state = state;
    sendButton.disabled = busy;
    stopButton.disabled = ![...running.values()].some((g) => !g.stopping);
  }

  function setConversation(id) {
    conversation = id;
    conversationOutput.textContent = id == null ? "new" : String(id);
  }

  function csrfToken() {
    for (const part of document.cookie.split(";")) {
      const [name, ...rest] = part.trim().split("=");
      if (name === "csrftoken") return decodeURIComponent(rest.join("="));
    }
    return null;
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollDown(force) {
    if (force || nearBottom()) list.scrollTop = list.scrollHeight;
  }

  // ---- messages ----

  function addUserMessage(text) {
    const li = document.createElement("li");
    li.className = "message user";
    const role = document.createElement("div");
    role.className = "role";
    role.textContent = "You";
    const content = document.createElement("div");
    content.className = "content";
    content.textContent = text;
    li.append(role, content);
    list.append(li);
  }

  function addAssistantMessage(gen) {
    const li = document.createElement("li");
    li.className = "message assistant";
    li.dataset.state = "waiting";
    li.dataset.path = gen.path;
    li.dataset.generation = gen.id;
    const role = document.createElement("div");
    role.className = "role";
    role.textContent = "Assistant";
    const stop = document.createElement("button");
    stop.type = "button";
    stop.className = "stop-one";
    stop.textContent = "Stop";
    stop.setAttribute("aria-label", "Stop this reply");
    stop.addEventListener("click", () => stopGeneration(gen));
    role.append(" ", stop);
    const content = document.createElement("div");
    content.className = "content";
    const error = document.createElement("div");
    error.className = "error";
    error.hidden = true;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = gen.path + " \u00b7 waiting\u2026";
    li.append(role, content, error, meta);
    list.append(li);
    Object.assign(gen, { el: li, contentEl: content, errorEl: error, metaEl: meta, stopEl: stop });
  }

  function formatMs(ms) {
    return typeof ms === "number" ? ms.toFixed(0) : "\u2013";
  }

  function showMeta(gen, info) {
    const parts = [
      "path " + gen.path,
      "status " + info.status,
      "tokens " + info.tokens,
      "ttft_ms " + formatMs(info.ttft_ms),
      "duration_ms " + formatMs(info.duration_ms),
    ];
    if (info.local) parts.push("(measured in the browser)");
    gen.metaEl.textContent = parts.join(" \u00b7 ");
  }

  function onToken(gen, text) {
    if (gen.finished || typeof text !== "string") return;
    if (gen.tokens === 0) {
      gen.ttft = performance.now() - gen.started;
      gen.el.dataset.state = "streaming";
      gen.metaEl.textContent = gen.path + " \u00b7 streaming\u2026";
    }
    gen.tokens += 1;
    const stick = nearBottom();
    gen.text += text;
    gen.contentEl.textContent = gen.text;
    scrollDown(stick);
  }

  function rememberIds(gen, status, data) {
    if (status === "cancelled" && !Number.isInteger(data.conversation) && gen.conversation != null) {
      // A stopped HTTP stream has no "done", but a follow-up prompt already knows its conversation.
      gen.el.dataset.conversation = String(gen.conversation);
    }
    if (Number.isInteger(data.conversation)) {
      gen.el.dataset.conversation = String(data.conversation);
      if (gen.epoch === epoch) setConversation(data.conversation);
    }
    if (Number.isInteger(data.message)) gen.el.dataset.message = String(data.message);
  }

  // Ends a generation once: state, ids, meta line, error text; then the page state.
  function finish(gen, status, data = {}) {
    if (gen.finished) return;
    gen.finished = true;
    clearTimeout(gen.stopTimer);
    running.delete(gen.id);
    rememberIds(gen, status, data);
    if (typeof data.content === "string" && data.content.length >= gen.text.length) {
      gen.text = data.content;
      gen.contentEl.textContent = gen.text;
    }
    const state = ["complete", "cancelled", "error"].includes(status) ? status : "error";
    gen.el.dataset.state = state;
    gen.stopEl.remove();
    if (data.errorMessage) {
      gen.errorEl.textContent = data.errorMessage;
      gen.errorEl.hidden = false;
    }
    const fromServer = Number.isInteger(data.tokens);
    showMeta(gen, {
      status: state,
      tokens: fromServer ? data.tokens : gen.tokens,
      ttft_ms: fromServer ? data.ttft_ms : gen.ttft,
      duration_ms: fromServer ? data.duration_ms : performance.now() - gen.started,
      local: !fromServer,
    });
    updateState();
    scrollDown(false);
  }

  // ---- the HTTP paths: fetch a POST and read its text/event-stream body ----

  async function errorMessage(response) {
    const fallback = "HTTP " + response.status + (response.statusText ? " " + response.statusText : "");
    try {
      const data = await response.clone().json();
      if (data && data.error && data.error.message) return { message: data.error.message, data };
    } catch (_) {
      // not JSON: a proxy's page or a server crash
    }
    return { message: fallback, data: {} };
  }

  function handleSseEvent(gen, block) {
    let event = "message";
    const dataLines = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") dataLines.push(value);
    }
    if (!dataLines.length) return;
    let data;
    try {
      data = JSON.parse(dataLines.join("\n"));
    } catch (_) {
      finish(gen, "error", { errorMessage: "The server sent an event that is not JSON." });
      return;
    }
    if (event === "token") onToken(gen, data.text);
    else if (event === "done") finish(gen, data.status, data);
    else if (event === "error") finish(gen, "error", { errorMessage: data.message || "The generation failed." });
  }

  async function runHttp(gen, body) {
    const controller = new AbortController();
    gen.abort = () => controller.abort();
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    const token = csrfToken();
    if (token) headers["X-CSRFToken"] = token;
    try {
      const response = await fetch(HTTP_URLS[gen.path], {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok || !response.body) {
        const { message, data } = await errorMessage(response);
        finish(gen, "error", { ...data, errorMessage: message });
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
        // Events end with a blank line; a read may stop in the middle of one, which waits for the next read.
        let match;
        while ((match = /\r\n\r\n|\n\n|\r\r/.exec(buffer))) {
          handleSseEvent(gen, buffer.slice(0, match.index));
          buffer = buffer.slice(match.index + match[0].length);
        }
        if (done) break;
      }
      if (buffer.trim()) handleSseEvent(gen, buffer);
      finish(gen, "error", { errorMessage: "The stream ended before the reply was done." });
    } catch (err) {
      if (err && err.name === "AbortError") finish(gen, "cancelled");
      else finish(gen, "error", { errorMessage: "Network error: " + (err && err.message ? err.message : err) });
    }
  }

  // ---- the WebSocket path: one lazily opened socket, messages routed by generation id ----

  let socket = null;
  let queue = []; // messages sent while the socket is still connecting

  function setWsStatus(state) {
    wsStatus.dataset.state = state;
    wsStatus.textContent = "WebSocket: " + state;
  }

  function openSocket() {
    if (socket && (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)) return socket;
    const ws = new WebSocket(WS_URL);
    socket = ws;
    queue = [];
    setWsStatus("connecting");
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      if (socket !== ws) return;
      setWsStatus("open");
      for (const message of queue) ws.send(message);
      queue = [];
    });
    ws.addEventListener("message", (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      const gen = running.get(String(data.id));
      if (!gen || gen.path !== "websocket") return;
      if (data.type === "token") onToken(gen, data.text);
      else if (data.type === "done") finish(gen, data.status, data);
      else if (data.type === "error") finish(gen, "error", { errorMessage: data.message || "The generation failed." });
    });
    ws.addEventListener("close", (event) => {
      if (socket === ws) {
        socket = null;
        queue = [];
        setWsStatus("closed");
      }
      let reason = "The WebSocket closed (code " + event.code + ") before the reply was done.";
      if (event.code === 4401 || !opened) {
        // A refused handshake (anonymous while LLM_REQUIRE_AUTH is on, or a bad origin) shows up as 1006.
        reason = "The WebSocket connection was refused or failed (code " + event.code + "). If sign-in is required, log in at /admin/login/.";
      }
      for (const gen of [...running.values()]) {
        if (gen.path !== "websocket" || gen.socket !== ws) continue;
        if (gen.stopping) finish(gen, "cancelled");
        else finish(gen, "error", { errorMessage: reason });
      }
    });
    return ws;
  }

  function wsSend(ws, message) {
    const text = JSON.stringify(message);
    if (ws.readyState === WebSocket.OPEN) ws.send(text);
    else if (ws.readyState === WebSocket.CONNECTING && ws === socket) queue.push(text);
  }

  function runWebSocket(gen, body) {
    const ws = openSocket();
    gen.socket = ws;
    gen.abort = () => {
      wsSend(ws, { type: "stop", id: gen.id });
      // If the cancelled "done" never comes (socket stuck), end it here with what arrived.
      gen.stopTimer = setTimeout(() => finish(gen, "cancelled"), STOP_GRACE_MS);
    };
    wsSend(ws, { type: "prompt", id: gen.id, ...body });
  }

  // ---- sending and stopping ----

  function send() {
    const prompt = promptInput.value;
    if (!prompt.trim() || running.size > 0) {
      promptInput.focus();
      return;
    }
    const path = pathInput.value in HTTP_URLS || pathInput.value === "websocket" ? pathInput.value : "sync";
    const body = { prompt };
    if (conversation != null) body.conversation = conversation;
    const maxTokens = parseInt(maxTokensInput.value, 10);
    if (Number.isInteger(maxTokens) && maxTokens > 0) body.max_tokens = maxTokens;

    seq += 1;
    const gen = {
      id: "g" + Date.now().toString(36) + "-" + seq,
      path,
      epoch,
      conversation,
      started: performance.now(),
      ttft: null,
      tokens: 0,
      text: "",
      finished: false,
      stopping: false,
    };
    addUserMessage(prompt);
    addAssistantMessage(gen);
    running.set(gen.id, gen);
    promptInput.value = "";
    updateState();
    scrollDown(true);
    if (path === "websocket") runWebSocket(gen, body);
    else runHttp(gen, body);
  }

  function stopGeneration(gen) {
    if (!gen || gen.finished || gen.stopping) return;
    gen.stopping = true;
    gen.stopEl.disabled = true;
    gen.metaEl.textContent = gen.path + " \u00b7 stopping\u2026";
    updateState();
    if (gen.abort) gen.abort();
  }

  function stopNewest() {
    const gens = [...running.values()].filter((g) => !g.stopping);
    stopGeneration(gens[gens.length - 1]);
  }

  function newConversation() {
    for (const gen of [...running.values()]) stopGeneration(gen);
    epoch += 1;
    setConversation(null);
    list.replaceChildren();
    promptInput.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  promptInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!sendButton.disabled) send();
    }
  });
  stopButton.addEventListener("click", stopNewest);
  newButton.addEventListener("click", newConversation);
  pathInput.addEventListener("change", () => {
    if (pathInput.value === "websocket") openSocket();
  });

  setConversation(null);
  setWsStatus("closed");
  updateState();
  if (pathInput.value === "websocket") openSocket();
})();
