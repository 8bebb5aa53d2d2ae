package webchat

// widgetJS is the embeddable widget: no build step, no dependencies.
//
//	<script src="https://gateway.example/chat/widget.js" async></script>
//	<script>window.GatewayChatIdentity = {email: "ann@example.com", signature: "<hex HMAC from your backend>"}</script>
const widgetJS = `(function () {
  if (window.GatewayChat) return;
  var script = document.currentScript || document.querySelector('script[src*="/chat/widget.js"]');
  var base = new URL(script ? script.src : "/chat/widget.js", location.href);
  var wsURL = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/chat/ws";
  var KEY = "gatewayChatToken";
  var ws = null, backoff = 500, queue = [], identity = window.GatewayChatIdentity || null;

  var root = document.createElement("div");
  root.id = "gwchat";
  root.innerHTML =
    '<button id="gwchat-open" aria-label="Chat with us" style="position:fixed;right:20px;bottom:20px;border-radius:24px;padding:12px 18px;border:0;background:#2457d6;color:#fff;font:15px sans-serif;cursor:pointer;z-index:2147483000">Chat</button>' +
    '<div id="gwchat-panel" role="dialog" aria-label="Chat" style="display:none;position:fixed;right:20px;bottom:76px;width:320px;height:420px;background:#fff;border:1px solid #ccd;border-radius:10px;box-shadow:0 6px 24px rgba(0,0,0,.15);font:14px sans-serif;z-index:2147483000;flex-direction:column">' +
    '<div id="gwchat-log" aria-live="polite" style="flex:1;overflow-y:auto;padding:10px"></div>' +
    '<form id="gwchat-form" style="display:flex;border-top:1px solid #eee">' +
    '<input id="gwchat-input" autocomplete="off" placeholder="Write a message" style="flex:1;border:0;padding:10px;font:inherit">' +
    '<button id="gwchat-send" type="submit" style="border:0;background:none;color:#2457d6;padding:0 12px;font:inherit;cursor:pointer">Send</button>' +
    "</form></div>";
  document.body.appendChild(root);
  var panel = root.querySelector("#gwchat-panel"), log = root.querySelector("#gwchat-log");
  var input = root.querySelector("#gwchat-input"), status = {};
  root.querySelector("#gwchat-open").onclick = function () {
    panel.style.display = panel.style.display === "none" ? "flex" : "none";
    if (panel.style.display === "flex") input.focus();
  };

  var css = document.createElement("style");
  css.textContent = "#gwchat .gwchat-agent[data-author]::before{content:attr(data-author);display:block;font-size:11px;color:#666;margin-bottom:2px}" +
    "#gwchat .gwchat-agent[data-status=read]::after,#gwchat .gwchat-agent[data-status=delivered]::after{content:' \\2713';font-size:11px;color:#2457d6}";
  document.head.appendChild(css);

  // bubble makes a message: the visitor's (right) or a reply (left), with
  // links to its attachments.
  function bubble(text, who, atts) {
    var el = document.createElement("div");
    el.className = "gwchat-msg gwchat-" + who;
    el.textContent = text;
    el.style.cssText = "margin:6px 0;padding:8px 10px;border-radius:8px;max-width:80%;white-space:pre-wrap;" +
      (who === "visitor" ? "margin-left:auto;background:#e8eefc" : "background:#f1f1f1");
    (atts || []).forEach(function (a) {
      if (!/^https?:/.test(a.url || "")) return;
      var link = document.createElement("a");
      link.href = a.url; link.target = "_blank"; link.rel = "noopener";
      link.textContent = a.filename || "attachment";
      link.style.display = "block";
      el.appendChild(link);
    });
    return el;
  }
  function line(text, who, id, atts) {
    var el = bubble(text, who, atts);
    if (id) el.dataset.id = id;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }
  function find(attr, id) {
    return log.querySelector("[" + attr + '="' + (window.CSS && CSS.escape ? CSS.escape(id) : id) + '"]');
  }
  // history shows a returning visitor's conversation, oldest first, above
  // anything this page shows already (kept once: a reconnect sends it again).
  function history(msgs) {
    var frag = document.createDocumentFragment();
    (msgs || []).forEach(function (m) {
      var mine = m.direction === "inbound", el = find(mine ? "data-message-id" : "data-id", m.message_id);
      if (!el) {
        el = bubble(m.text || "", mine ? "visitor" : "agent", m.attachments);
        if (mine) { el.dataset.messageId = m.message_id; el.dataset.state = "acked"; } else el.dataset.id = m.message_id;
      }
      if (!mine && m.author) el.dataset.author = m.author;
      if (!mine && m.status) el.dataset.status = m.status;
      frag.appendChild(el);
    });
    log.insertBefore(frag, log.firstChild);
    log.scrollTop = log.scrollHeight;
  }
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return "x" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function send(frame) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); else queue.push(frame);
  }
  function connect() {
    ws = new WebSocket(wsURL);
    ws.onopen = function () {
      ws.send(JSON.stringify({type: "hello", token: localStorage.getItem(KEY) || "", identity: identity}));
    };
    ws.onmessage = function (e) {
      var f = JSON.parse(e.data);
      if (f.type === "welcome") {
        backoff = 500; // only a welcome resets it: a refused hello (rate_limited) backs off
        localStorage.setItem(KEY, f.token);
        root.dataset.visitor = f.visitor_id;
        root.dataset.state = "connected";
        var q = queue; queue = [];
        q.forEach(send);
      } else if (f.type === "ack") {
        var el = status[f.client_id];
        if (el) { el.dataset.state = "acked"; el.dataset.messageId = f.message_id; }
      } else if (f.type === "error" && f.client_id) {
        var el2 = status[f.client_id];
        if (el2) { el2.dataset.state = "failed"; el2.title = f.message; }
      } else if (f.type === "history") {
        history(f.messages);
      } else if (f.type === "message") {
        var el3 = find("data-id", f.message_id) || line(f.text || "", "agent", f.message_id, f.attachments);
        if (f.author) el3.dataset.author = f.author;
        send({type: "received", message_id: f.message_id});
        el3.dataset.status = "delivered";
      }
    };
    ws.onclose = function () {
      root.dataset.state = "disconnected";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }
  root.querySelector("#gwchat-form").onsubmit = function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var id = uuid(), el = line(text, "visitor");
    el.dataset.state = "sending";
    el.dataset.clientId = id;
    status[id] = el;
    send({type: "message", client_id: id, text: text});
  };
  window.GatewayChat = {
    identify: function (id) { identity = id; if (ws) ws.close(); },
    open: function () { panel.style.display = "flex"; }
  };
  connect();
})();
`

// demoHTML is a page that embeds the widget.
const demoHTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat demo</title></head>
<body style="font:16px sans-serif;max-width:40em;margin:3em auto;padding:0 1em">
<h1>Chat demo</h1>
<p>This page embeds the gateway's chat widget. Messages you send arrive as
<code>message.received</code> on <code>gateway.inbound.v1</code>, and replies sent to the conversation
appear here.</p>
<pre>&lt;script src="/chat/widget.js" async&gt;&lt;/script&gt;</pre>
<script src="/chat/widget.js"></script>
</body>
</html>
`
