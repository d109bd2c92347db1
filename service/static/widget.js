/*
 * talksearch widget: search what was said in talks from any site, and play the talk at that moment.
 *
 *   <script src="https://talks.example.org/widget.js" defer></script>
 *   <talk-search api="https://talks.example.org"></talk-search>
 *
 * Attributes: api (default: where this script came from; relative: to the page), placeholder, limit, channel,
 * event, speaker, language (scope the search to one collection, or to talks in one spoken language, e.g. "de"),
 * talk (talk ids, separated by spaces: search within those talks; an id the service lacks is said, not searched),
 * theme ("light"/"dark"; otherwise follows the OS), shortcuts ("off": "/" and Ctrl/Cmd+K don't jump to this widget,
 * for a site that uses "/" itself or for speech input; WCAG 2.1.4 asks that single-key shortcuts can be turned off).
 * Theming: the --ts-* CSS custom properties listed in STYLE, set on the element or any ancestor.
 * Events (bubbling and composed, so they reach the document from inside another component's shadow root, for
 * analytics): talksearch-results {query, count}, talksearch-play {talk, start}, talksearch-error {query, message}.
 *
 * Rules this file keeps:
 * - Everything the API returns is rendered as text: DOM text nodes and textContent, never innerHTML.
 *   Snippets carry <mark> tags; they are split on the literal tags and rebuilt from text nodes.
 * - No framework and no other file: it must stay small (the tests hold it to 15 KB gzipped) and a host
 *   page should not be able to break it, hence the shadow root.
 * - Nothing is fetched but the API, the talk's media, and YouTube's player script (only for YouTube talks, which
 *   the service plays on YouTube: not for a local copy of one).
 */
(() => {
  "use strict";
  if (customElements.get("talk-search")) return; // the script tag was pasted twice

  // Captured now: document.currentScript is only set while this file first runs, and never for a
  // <script type="module">: then the page's script element that loaded a widget.js says where it came from.
  const SCRIPT_SRC = (document.currentScript || widgetScript() || {}).src;
  const DEBOUNCE_MS = 200;
  const MIN_CHARS = 2;
  const TIMEOUT_MS = 15000; // a server that takes the connection and never answers: said, not "Searching…" forever
  // The API's max_query_chars (the service writes its own setting into the copy it serves): a longer paste is cut
  // here, as in /embed's form, not sent (refused before CORS headers are added, it would read as "can't reach").
  const MAX_CHARS = 500;
  const AUDIO_EXT = /\.(mp3|ogg|oga|opus|m4a|aac|wav|flac)$/i;
  const YT_HOSTS = /(^|\.)(youtube\.com|youtube-nocookie\.com|youtu\.be)$/i;
  // Words too common to be worth marking when we have to mark the text ourselves.
  const STOP = new Set(("the and for are was were what when where which who why how does did that this with from "
    + "into about have has had you your our their they them its not but can").split(" "));
  const ENTITIES = { "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };

  // Dark colours, used both for prefers-color-scheme and for theme="dark".
  const DARK = `--_bg:var(--ts-bg,#17191e);--_fg:var(--ts-fg,#e8eaed);--_muted:var(--ts-muted,#a0a6b0);
    --_border:var(--ts-border,#3a3f48);--_field:var(--ts-border,#6b717c);--_accent:var(--ts-accent,#8ab4f8);--_sel:var(--ts-selected-bg,#263044);
    --_mark-bg:var(--ts-mark-bg,#5c4a00);--_mark-fg:var(--ts-mark-fg,#fff3c4);--_error:var(--ts-error,#ff8a80);
    color-scheme:dark;`;
  const STYLE = `
:host{display:block;position:relative;max-width:100%;font:var(--ts-font,inherit);
  --_bg:var(--ts-bg,#fff);--_fg:var(--ts-fg,#1f2328);--_muted:var(--ts-muted,#5f6670);
  --_border:var(--ts-border,#d0d4da);--_field:var(--ts-border,#868c95);--_accent:var(--ts-accent,#1a5fd0);--_sel:var(--ts-selected-bg,#e8f0fe);
  --_mark-bg:var(--ts-mark-bg,#fff0a8);--_mark-fg:var(--ts-mark-fg,inherit);--_error:var(--ts-error,#c5221f);
  --_radius:var(--ts-radius,8px);color-scheme:light}
@media (prefers-color-scheme:dark){:host(:not([theme=light])){${DARK}}}
:host([theme=dark]){${DARK}}
:host([hidden]){display:none}
*{box-sizing:border-box}
[hidden]{display:none!important}
/* Text colour set with the background: a page rule such as *{color:#eee} matches the element itself, beats
   :host, and would be inherited onto our white box. */
.box{color:var(--_fg);background:var(--_bg);border:1px solid var(--_border);border-radius:var(--_radius);overflow:hidden}
/* The search box's border shows where to type: 3:1 against the background (WCAG 1.4.11), unlike the separators. */
.box:not(.player){border-color:var(--_field)}
input{width:100%;font:inherit;font-size:max(16px,1em);color:inherit;background:transparent;border:0;
  padding:.7em .9em;outline:none;min-width:0}
input::placeholder{color:var(--_muted);opacity:1}
.box:focus-within{border-color:var(--_accent);
  box-shadow:0 0 0 2px color-mix(in srgb,var(--_accent) 30%,transparent)}
.status{padding:.5em .9em;color:var(--_muted);font-size:.9em;border-top:1px solid var(--_border);overflow-wrap:anywhere}
.status.error{color:var(--_error)}
.sr{position:absolute;width:1px;height:1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
ul[aria-busy]{opacity:.6}
ul{list-style:none;margin:0;padding:0;max-height:min(28em,60vh);overflow-y:auto;border-top:1px solid var(--_border)}
li{padding:.6em .9em;cursor:pointer;border-top:1px solid var(--_border);overflow-wrap:anywhere}
li:first-child{border-top:0}
li[aria-selected=true],li:hover{background:var(--_sel)}
li[aria-selected=true]{box-shadow:inset 3px 0 var(--_accent)}
/* Forced colours (Windows High Contrast) drop backgrounds and box-shadows and force border colours: the chosen
   result and the focused box need an outline. */
@media (forced-colors:active){li[aria-selected=true]{outline:2px solid Highlight;outline-offset:-2px}
  .box:not(.player):focus-within{outline:2px solid Highlight}}
.head{display:flex;gap:.6em;align-items:baseline}
.title{font-weight:600;flex:1;min-width:0}
.time{color:var(--_accent);font-variant-numeric:tabular-nums;white-space:nowrap}
.meta{color:var(--_muted);font-size:.85em;margin-top:.1em}
.speaker{color:var(--_fg);font-weight:600}
.snip{margin-top:.25em;font-size:.92em;line-height:1.4}
.tr{margin-top:.15em;font-size:.88em;font-style:italic;opacity:.8}
.also{margin-top:.15em;font-size:.85em;color:var(--_muted)}
mark{background:var(--_mark-bg);color:var(--_mark-fg);border-radius:2px;padding:0 .1em}
.player{margin-top:.6em}
.bar{display:grid;grid-template-columns:1fr auto;align-items:start;gap:.1em .6em;padding:.5em .9em;font-size:.9em}
.now{font-weight:600;overflow-wrap:anywhere}
.links{grid-row:2;display:flex;flex-wrap:wrap;gap:0 1.2em}
a{color:var(--_accent);white-space:nowrap}
button{font:inherit;color:var(--_muted);background:none;border:0;cursor:pointer;padding:0 .2em;font-size:1.2em;line-height:1;
  min-width:24px;min-height:24px} /* a target of 24px square at least (WCAG 2.5.8) */
.stage video,.stage .yt{display:block;width:100%;aspect-ratio:16/9;max-height:70vh;background:#000;border:0}
.stage audio{display:block;width:100%;padding:0 .6em .6em}
.stage .yt iframe{width:100%;height:100%;border:0}
.msg{padding:0 .9em .7em;color:var(--_muted)}
`;

  // --- helpers: pure functions, no DOM state --------------------------------------------------------

  /** 83.4 -> "1:23"; 3725 -> "1:02:05" (how players show positions). */
  function clock(seconds) {
    const s = Math.max(0, Math.floor(Number(seconds) || 0));
    const mmss = `${Math.floor((s % 3600) / 60)}:${String(s % 60).padStart(2, "0")}`;
    return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss.padStart(5, "0")}` : mmss;
  }

  /** What a response with quotes_dropped tells the user, as the pages and the CLI do (quotes_dropped_note in
   *  talksearch/search/searcher.py): the query's "quoted phrases" as typed, in any double quotes search reads. */
  function quotesDroppedNote(query) {
    const read = query.normalize("NFKC").replace(/[“”„‟«»]/g, '"');
    const phrases = [...read.matchAll(/"([^"]+)"/g)].map((m) => m[1].trim()).filter((p) => /[\p{L}\p{N}]/u.test(p));
    return `No moment holds ${phrases.map((p) => `“${p}”`).join(" and ")} word for word; these are the closest.`;
  }

  /** What a response without words_found tells the user, as the pages and the CLI do (words_not_found_note in
   *  talksearch/search/searcher.py). */
  function wordsNotFoundNote(query) {
    const words = query.normalize("NFKC").replace(/["“”„‟«»]/g, " ").trim().split(/\s+/).join(" ");
    return `No talk searched says “${words}”: these are the closest in meaning or sound.`;
  }

  /** What a response with corrected_query tells the user, as the pages and the CLI do (corrected_note in
   *  talksearch/search/searcher.py). */
  function correctedNote(corrected) {
    return `Searched for “${corrected}”, as the talks spell it.`;
  }

  /** An absolute http(s) URL, or null: a javascript: or file: URL from the API must never become a link. */
  function httpUrl(value, base) {
    if (!value || typeof value !== "string") return null;
    try {
      const url = new URL(value, base);
      return url.protocol === "http:" || url.protocol === "https:" ? url : null;
    } catch {
      return null;
    }
  }

  /** The page's script element whose address is a widget.js, or null (the default api is then the page's). */
  function widgetScript() {
    for (const script of document.querySelectorAll("script[src]")) {
      const url = httpUrl(script.src);
      if (url && /\/widget\.js$/.test(url.pathname)) return script;
    }
    return null;
  }

  /** Whether `node` is on the event's path, through shadow roots. A plain loop: a host page's script may have
   *  replaced Array.prototype.includes (old libraries did), and a click on a result must still play it. */
  function onPath(event, node) {
    const path = event.composedPath();
    for (let i = 0; i < path.length; i++) if (path[i] === node) return true;
    return false;
  }

  /** The video id when the link is YouTube's, else null. */
  function youtubeId(link) {
    const url = httpUrl(link);
    if (!url || !YT_HOSTS.test(url.hostname)) return null;
    const path = url.pathname.split("/").filter(Boolean);
    const id = url.hostname.endsWith("youtu.be") ? path[0]
      : url.searchParams.get("v") || (["embed", "shorts", "live", "v"].includes(path[0]) ? path[1] : null);
    return id && /^[\w-]{6,20}$/.test(id) ? id : null;
  }

  /** Where "Open at source" goes: the result's link (the source at the moment), unless that is this service's own
   *  copy or page (a local file's talk), shown already: then the talk's url, where the talk page's "Source" goes. */
  function sourceOf(result, base) {
    const own = (url) => url && url.href.startsWith(base);
    const link = httpUrl(result.link, base), page = httpUrl((result.talk || {}).url, base);
    if (link && !own(link)) return link;
    return page && !own(page) ? page : link;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  // Each part in its own <bdi>: an Arabic or Hebrew name beside a time or date would pull them into its
  // right-to-left run ("0:32 · عنوان"). `between(i)` is what separates part i from the next.
  /** ``node``'s text in the talk's language, where the talk says which (a right-to-left script reads so). */
  function inTalksLanguage(node, talk) {
    if (typeof talk.language !== "string" || !talk.language) return;
    node.lang = talk.language;
    node.dir = "auto";
  }

  function isolated(node, parts, between) {
    parts.forEach((part, i) => {
      if (i) node.append(between(i - 1));
      node.append(el("bdi", null, part));
    });
    return node;
  }

  /**
   * The server's snippet -> text nodes and <mark> elements. The snippet is text with the matched terms
   * in literal <mark>...</mark> and everything else HTML-escaped; it is split on those two tags only and
   * every other character becomes text, so even a raw <img onerror> in it stays inert.
   */
  function snippetNodes(snippet) {
    const frag = document.createDocumentFragment();
    let marked = false;
    for (const part of String(snippet).split(/(<\/?mark>)/)) {
      if (part === "<mark>") marked = true;
      else if (part === "</mark>") marked = false;
      else if (part) {
        // One pass, so "&amp;lt;" becomes the text "&lt;" and not "<".
        const text = part.replace(/&(?:lt|gt|amp|quot|#x27|#39);/g, (e) => ENTITIES[e]);
        frag.append(marked ? el("mark", "", text) : text); // append(string) makes a text node
      }
    }
    return frag;
  }

  /**
   * Fallback when the API sends no snippet: mark words of the passage that start like a query word
   * ("checkpoints" marks "checkpoint" and "checkpointing"), built from text nodes.
   */
  function markedText(text, query) {
    const frag = document.createDocumentFragment();
    const stems = [...new Set((query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [])
      .filter((w) => w.length > 2 && !STOP.has(w))
      .map((w) => (w.length > 4 ? w.replace(/(ing|ed|es|s)$/, "") : w)))];
    if (!stems.length) {
      frag.append(text);
      return frag;
    }
    const escaped = stems.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).sort((a, b) => b.length - a.length);
    // A word start is the text's start or a non-word character (captured, since older Safari has no
    // lookbehind); the word itself is group 2.
    const re = new RegExp(`(^|[^\\p{L}\\p{N}])((?:${escaped.join("|")})[\\p{L}\\p{N}]*)`, "giu");
    let at = 0;
    for (const m of text.matchAll(re)) {
      const begin = m.index + m[1].length;
      if (begin > at) frag.append(text.slice(at, begin));
      frag.append(el("mark", "", m[2]));
      at = begin + m[2].length;
    }
    if (at < text.length) frag.append(text.slice(at));
    return frag;
  }

  // YouTube's IFrame API is loaded once per page, and only when a YouTube talk is played.
  let youtubeApi = null;
  function loadYouTube() {
    if (window.YT && window.YT.Player) return Promise.resolve(window.YT);
    if (!youtubeApi) {
      youtubeApi = new Promise((resolve, reject) => {
        const previous = window.onYouTubeIframeAPIReady; // the host page may use the API too
        window.onYouTubeIframeAPIReady = () => {
          if (typeof previous === "function") previous();
          resolve(window.YT);
        };
        const script = document.createElement("script");
        script.src = "https://www.youtube.com/iframe_api";
        script.onerror = () => {
          youtubeApi = null; // let a later click try again
          reject(new Error("YouTube's player could not be loaded"));
        };
        document.head.append(script);
      });
    }
    return youtubeApi;
  }

  // --- the element ----------------------------------------------------------------------------------

  let instances = 0;
  let sheet = null;
  const widgets = new Set(); // the widgets on the page: one that starts playing pauses the others

  function pauseOthers(widget) {
    for (const other of widgets) if (other !== widget) other.pause();
  }

  class TalkSearch extends HTMLElement {
    static get observedAttributes() {
      return ["api", "placeholder", "limit", "channel", "event", "speaker", "language", "talk"];
    }

    constructor() {
      super();
      const uid = `ts${++instances}`; // ids only need to be unique inside this shadow root, but keep them readable
      const root = this.attachShadow({ mode: "open" });
      const box = el("div", "box");
      this.input = el("input");
      Object.assign(this.input, { type: "search", autocomplete: "off", spellcheck: false, maxLength: MAX_CHARS });
      this.input.setAttribute("role", "combobox");
      this.input.setAttribute("aria-autocomplete", "list");
      this.input.setAttribute("aria-expanded", "false");
      this.input.setAttribute("aria-controls", `${uid}-list`);
      this.input.setAttribute("enterkeyhint", "search");
      this.status = el("div", "status");
      this.status.setAttribute("role", "status"); // read out: "Searching…", "3 results", errors
      this.status.hidden = true;
      this.list = el("ul");
      this.list.id = `${uid}-list`;
      this.list.setAttribute("role", "listbox");
      this.list.setAttribute("aria-label", "Search results");
      this.list.hidden = true;
      // Chromium makes a scrolling box focusable: Tab would stop on the list, where keys do nothing useful.
      this.list.tabIndex = -1;
      box.append(this.input, this.status, this.list);

      this.player = el("div", "player box");
      this.player.hidden = true;
      const bar = el("div", "bar");
      this.nowPlaying = el("span", "now");
      this.sourceLink = el("a", "", "Open at source ↗");
      // The talk's page here, at the moment: its transcript, which the source (a video site, a feed's host) lacks.
      this.pageLink = el("a", "", "Open talk page ↗");
      // Both open a new tab, which their description says (WCAG 3.2.5), their names staying what they show.
      const newTab = Object.assign(el("span", null, "opens in a new tab"), { id: `${uid}-new-tab`, hidden: true });
      const links = el("span", "links");
      for (const a of [this.sourceLink, this.pageLink]) {
        Object.assign(a, { target: "_blank", rel: "noopener noreferrer" });
        a.setAttribute("aria-describedby", newTab.id);
        links.append(a);
      }
      links.append(newTab);
      const close = el("button", "", "×");
      close.setAttribute("aria-label", "Close player");
      close.addEventListener("click", () => this.closePlayer());
      bar.append(this.nowPlaying, links, close);
      this.stage = el("div", "stage");
      this.player.append(bar, this.stage);
      // A constructed stylesheet is shared by every instance and passes a host page's CSP without
      // 'unsafe-inline'; a <style> element is the fallback for browsers without it.
      if ("adoptedStyleSheets" in root && "replaceSync" in CSSStyleSheet.prototype) {
        if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(STYLE);
        root.adoptedStyleSheets = [sheet];
      } else root.append(el("style", "", STYLE));
      root.append(box, this.player);

      this.uid = uid;
      this.results = [];
      this.selected = -1;
      this.timer = 0;
      this.controller = null; // the in-flight search; aborted when a newer one starts
      this.enterFor = null; // the in-flight search Enter was pressed for: its first result plays when it answers
      this.plays = 0; // results played so far: one played while a search is on its way keeps its answer's list shut
      this.media = null; // <video>/<audio> currently in the stage
      this.yt = null; // { player, id } when YouTube is in the stage
      this.quietFocus = false;
      this.wanted = 0; // where the chosen moment starts, in seconds
      this.measured = 0; // the playing talk's length as the indexer measured it, in seconds (0: not known)

      this.input.addEventListener("input", () => this.schedule());
      this.input.addEventListener("keydown", (e) => this.onKey(e));
      // Esc from the player's own controls too ("Open at source", "Close player"), not only from the box.
      this.player.addEventListener("keydown", (e) => e.key === "Escape" && this.onEscape(e));
      // Back in the box (focused again, or tapped while still focused): show its results again, unless
      // we moved focus there ourselves.
      const reopen = () => !this.quietFocus && this.results.length && this.open(true);
      this.input.addEventListener("focus", reopen);
      this.input.addEventListener("click", reopen);
      // Keep focus in the input while clicking a result, so the keyboard keeps working afterwards. A tap on a
      // touch screen leaves it instead: kept, the on-screen keyboard would stay open over the player.
      this.list.addEventListener("mousedown", (e) => e.preventDefault());
      this.list.addEventListener("pointerdown", (e) => { this.tapped = e.pointerType === "touch"; });
      this.list.addEventListener("click", (e) => {
        const option = e.target.closest("[role=option]");
        if (!option) return;
        this.play(Number(option.dataset.index));
        if (this.tapped) this.input.blur();
      });
      // Focus leaving the widget (Tab) closes the results, as a click elsewhere does; inside the shadow root
      // relatedTarget is retargeted to this element.
      this.addEventListener("focusout", (e) => this.contains(e.relatedTarget) || this.open(false));
      this.onOutside = (e) => onPath(e, this) || this.open(false);
      this.applyPlaceholder();
    }

    connectedCallback() {
      document.addEventListener("pointerdown", this.onOutside);
      widgets.add(this);
      // Moved in the page (a layout that reparents it): the search stopped on the way out is made again.
      if (this.interrupted) this.schedule();
      this.interrupted = false;
    }

    disconnectedCallback() {
      document.removeEventListener("pointerdown", this.onOutside);
      widgets.delete(this);
      this.interrupted = Boolean(this.timer || this.controller); // a search waiting to be sent, or on its way
      clearTimeout(this.timer);
      this.timer = 0;
      if (this.controller) this.controller.abort();
    }

    attributeChangedCallback(name) {
      if (name === "placeholder") this.applyPlaceholder();
      else if (this.input.value.trim()) this.schedule(); // new api/filters/limit: search again
    }

    applyPlaceholder() {
      const text = this.getAttribute("placeholder") || "Search the talks…";
      this.input.placeholder = text;
      this.input.setAttribute("aria-label", text);
    }

    /** The API's base URL, absolute (a relative api="/ts" is the host page's: new URL needs a base), without
     * a trailing slash. */
    get api() {
      const api = this.getAttribute("api") || (SCRIPT_SRC ? new URL(".", SCRIPT_SRC).href : location.origin);
      return new URL(api, document.baseURI).href.replace(/\/+$/, "");
    }

    // --- searching ---

    schedule() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.search(), DEBOUNCE_MS);
    }

    async search() {
      clearTimeout(this.timer);
      this.timer = 0;
      const query = this.input.value.trim();
      if (this.controller) this.controller.abort(); // its answer would be for an older query
      this.controller = null;
      if (query.length < MIN_CHARS) {
        this.render([], query);
        this.setStatus("");
        return;
      }
      const controller = (this.controller = new AbortController());
      const plays = this.plays;
      let timedOut = false; // aborted for taking too long, unlike a search superseded by a newer one
      const deadline = setTimeout(() => { timedOut = true; controller.abort(); }, TIMEOUT_MS);
      const url = new URL(`${this.api}/api/search`);
      url.searchParams.set("q", query);
      for (const name of ["limit", "channel", "event", "speaker", "language"]) {
        const value = this.getAttribute(name);
        if (value) url.searchParams.set(name, value);
      }
      // Talk ids hold no spaces: several are any of them, as repeated talk= are to the API
      for (const id of (this.getAttribute("talk") || "").split(/\s+/)) if (id) url.searchParams.append("talk", id);
      this.setStatus("Searching…", false, this.results.length > 0); // the old results stay, dimmed
      this.list.setAttribute("aria-busy", "true");
      try {
        // The address as a string: a page's fetch wrapper may read `input.url` from anything but a string.
        const response = await fetch(url.href, { signal: controller.signal, headers: { Accept: "application/json" } });
        const body = await response.json().catch(() => null);
        if (timedOut) throw new TypeError("no answer in time");
        if (controller.signal.aborted) return; // a newer search started while this one's body arrived
        if (!response.ok) {
          // The API's one error shape: {"error": {"code", "message"}}.
          const message = body && body.error && body.error.message;
          throw new Error(message ? `Search failed: ${message}` : `Search failed (HTTP ${response.status}).`);
        }
        if (!body || !Array.isArray(body.results)) {
          throw new Error("Search failed: the server's answer was not understood.");
        }
        // A result played since this search started (one of the old, dimmed list): its list would cover the player.
        this.render(body.results, query, this.plays === plays);
        const n = body.results.length;
        this.emit("results", { query, count: n });
        if (this.enterFor === controller) this.play(0); // Enter pressed for these words before their answer
        const count = `${n} result${n === 1 ? "" : "s"}`;
        if (n && typeof body.corrected_query === "string") this.setStatus(correctedNote(body.corrected_query));
        else if (n && body.words_found === false) this.setStatus(wordsNotFoundNote(query)); // shown: only the nearest
        else if (n && body.quotes_dropped === true) this.setStatus(quotesDroppedNote(query)); // not what was quoted
        else this.setStatus(n ? count : `Nothing in these talks matches “${query}”.`, false, n > 0);
      } catch (error) {
        if (controller.signal.aborted && !timedOut) return; // superseded by a newer search: not an error
        this.render([], query);
        // fetch() rejects with a TypeError when the server can't be reached (or refuses CORS).
        const unreachable = "Can't reach the talk search service. Try again in a moment.";
        this.setStatus(error instanceof TypeError || timedOut ? unreachable : error.message, true);
        this.emit("error", { query, message: this.status.textContent });
      } finally {
        clearTimeout(deadline);
        if (this.controller === controller) {
          this.controller = null;
          this.list.removeAttribute("aria-busy");
        }
      }
    }

    /** Tells the host page (analytics, tests): talksearch-results, talksearch-play, talksearch-error. */
    emit(name, detail) {
      this.dispatchEvent(new CustomEvent(`talksearch-${name}`, { detail, bubbles: true, composed: true }));
    }

    /** A line under the input; `quiet` keeps it for screen readers only (a count or "Searching…" over results). */
    setStatus(text, isError = false, quiet = false) {
      this.status.textContent = text;
      this.status.classList.toggle("error", isError);
      this.status.classList.toggle("sr", quiet);
      this.status.hidden = !text;
    }

    render(results, query, show = true) {
      this.results = results;
      this.selected = -1;
      const items = results.map((result, index) => {
        const talk = result.talk || {};
        const li = el("li");
        li.id = `${this.uid}-opt-${index}`;
        li.dataset.index = index;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        const head = el("div", "head");
        const title = el("span", "title", talk.title || "Untitled talk");
        head.append(title, el("span", "time", clock(result.start)));
        // Who says the moment (the captions' name; an older server sends none) comes first, in bold, and is not
        // named again among the talk's speakers
        const says = typeof result.speaker === "string" && result.speaker.trim() ? result.speaker : "";
        const speakers = [says, ...(Array.isArray(talk.speakers) ? talk.speakers : []).filter((s) => s !== says)]
          .filter(Boolean);
        const who = [...speakers, talk.event || talk.channel || ""].filter(Boolean);
        const snip = el("div", "snip");
        // The words as spoken, and the title they were given: fonts, hyphenation and screen readers follow it.
        for (const node of [title, snip]) inTalksLanguage(node, talk);
        snip.append(typeof result.snippet === "string" && result.snippet
          ? snippetNodes(result.snippet) : markedText(String(result.text || ""), query));
        li.append(head);
        const meta = isolated(el("div", "meta"), who, (i) => (i === speakers.length - 1 ? " · " : ", "));
        if (says) {
          Object.assign(meta.firstChild, { className: "speaker", dir: "auto" });
          meta.firstChild.after(el("span", "sr", " (speaking)")); // bold is not said
        }
        if (who.length) li.append(meta);
        if (typeof result.chapter === "string" && result.chapter) {  // the part of the talk the moment is in
          const chapter = el("div", "meta chapter", "Chapter: ");
          chapter.append(el("bdi", null, result.chapter));
          if (title.lang) Object.assign(chapter.lastChild, { lang: title.lang, dir: "auto" });
          li.append(chapter);
        }
        li.append(snip);
        if (typeof result.translation === "string" && result.translation) {
          const english = el("div", "tr"); // a talk indexed with --translate: its English, query words marked
          english.lang = "en";
          english.append(typeof result.translation_snippet === "string" && result.translation_snippet
            ? snippetNodes(result.translation_snippet) : result.translation);
          li.append(english);
        }
        // the same recording indexed again (a channel's upload and a feed's episode): one result, its copies named
        const copies = (Array.isArray(result.also_in) ? result.also_in : []).filter((a) => a && typeof a.title === "string");
        if (copies.length) li.append(el("div", "also", "Also in " + copies.map((a) => a.title).join(", ")));
        return li;
      });
      this.list.replaceChildren(...items);
      this.open(show && items.length > 0);
    }

    open(show) {
      this.list.hidden = !show;
      this.input.setAttribute("aria-expanded", String(show));
      const active = show && this.list.children[this.selected]; // a closed list's was read out as chosen
      if (active) this.input.setAttribute("aria-activedescendant", active.id);
      else this.input.removeAttribute("aria-activedescendant");
    }

    select(index) {
      const options = this.list.children;
      if (!options.length) return;
      this.open(true);
      this.selected = (index + options.length) % options.length; // wrap around at both ends
      for (const option of options) option.setAttribute("aria-selected", String(option === options[this.selected]));
      const option = options[this.selected];
      this.input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }

    onKey(e) {
      if (e.isComposing) return; // Enter/arrows belong to the input method while composing (CJK)
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault(); // don't move the caret
        const step = e.key === "ArrowDown" ? 1 : -1;
        if (this.list.hidden && this.results.length) this.open(true);
        else this.select(this.selected < 0 && step < 0 ? -1 : this.selected + step); // Up from nothing: last
      } else if (e.key === "Enter") {
        e.preventDefault();
        // The first result for the words typed (not the dimmed older ones), played when it comes; one chosen with
        // the arrows at once. With nothing shown (a failure, nothing found) Enter searches again, as the page's does.
        if (this.timer || (!this.controller && !this.results.length)) {
          this.search();
          this.enterFor = this.controller;
        } else if (this.controller && this.selected < 0) this.enterFor = this.controller;
        else if (this.results.length) this.play(Math.max(this.selected, 0));
      } else if (e.key === "Escape") this.onEscape(e);
    }

    /** First Esc closes the results, the next the player (focus goes back to the box); what was typed stays. With
     *  nothing of ours open it is the page's: the search field empties, as a plain one does, then a dialog closes. */
    onEscape(e) {
      if (!this.list.hidden) this.open(false);
      else if (!this.player.hidden) this.closePlayer();
      else return; // nothing of ours was open: left alone, so a host page's dialog or popover around the widget closes
      // It closed something of ours: not the search field's own Esc too (it would empty the box), nor a host's modal.
      e.preventDefault();
      e.stopPropagation();
    }

    // --- playing ---

    play(index) {
      const result = this.results[index];
      if (!result) return;
      this.plays++;
      this.select(index);
      this.open(false);
      const talk = result.talk || {};
      const start = Math.max(0, Number(result.start) || 0);
      // Paths of this service (a local talk's link and media_url, like `page`) are resolved against the API.
      const base = `${this.api}/`;
      this.nowPlaying.replaceChildren();
      isolated(this.nowPlaying, [talk.title || "Untitled talk", clock(start)], () => " · ");
      inTalksLanguage(this.nowPlaying.firstChild, talk); // the title, as in the results (read in English before)
      this.showLink(this.sourceLink, sourceOf(result, base));
      this.showLink(this.pageLink, httpUrl(result.page, base));
      this.player.hidden = false;
      this.emit("play", { talk: talk.id, start });

      // The player the service picks (its talk page, /embed): YouTube's only for a talk it plays on YouTube, whose
      // link is YouTube's. A local copy of a YouTube talk (a yt-dlp download, its url the YouTube page) plays here.
      const youtube = youtubeId(result.link);
      // A talk indexed from a local file has the service's copy as its media_url, a path like `page`
      // (/media/{id}.mp3): resolved against the API. Audio or video by the name, as for any media URL.
      const media = httpUrl(talk.media_url, base);
      const kind = media && AUDIO_EXT.test(media.pathname) ? "audio" : "video";
      if (youtube) this.playYouTube(youtube, start);
      else if (media) this.playMedia(media, start, talk, kind);
      else this.showMessage("This talk can't be played here; open it at the source.");
    }

    /** A player's link, shown only with an address to go to. */
    showLink(a, url) {
      a.hidden = !url;
      if (url) a.href = url.href;
      else a.removeAttribute("href");
    }

    /**
     * Where moment t is in media. An mp3 without a seek table (VBR, no Xing/Info frame): the browser guesses its
     * length from its first frame and seeks by that guess, so t is scaled by the length the indexer measured, as
     * on the talk page; any other recording's lengths agree.
     */
    at(media, t) {
      const measured = this.measured, guess = media.duration;
      return measured && isFinite(guess) && Math.abs(guess / measured - 1) > 0.02 ? t * guess / measured : t;
    }

    playMedia(url, start, talk, kind) {
      this.wanted = start;
      this.measured = talk.duration_measured === false ? 0 : talk.duration || 0;  // not a caption talk's guess
      let media = this.media;
      if (!media || media.localName !== kind || media.dataset.src !== url.href) {
        this.clearStage();
        media = this.media = el(kind);
        Object.assign(media, { controls: true, preload: "metadata", playsInline: true });
        media.dataset.src = url.href;
        media.setAttribute("aria-label", talk.title || "Untitled talk");
        media.addEventListener("play", () => pauseOthers(this)); // from the widget or its own controls
        const failed = media; // an element already replaced by another talk's must not clear the stage
        media.addEventListener("error", () => this.media === failed
          && this.showMessage("This recording couldn't be played here; open it at the source."));
        // The #t= fragment below makes the browser start there as it loads: seeking only on loadedmetadata
        // is too late when a small file arrives at once and playback has already begun at 0:00. This
        // covers a browser that ignores the fragment, and a newer moment chosen while it was loading.
        media.addEventListener("loadedmetadata", () => {
          // A host that ignores Range requests lets a player play from the start only: said, as the talk page
          // says it, rather than a silent 0:00.
          const reach = media.seekable.length ? media.seekable.end(media.seekable.length - 1) : 0;
          const at = this.at(media, this.wanted);
          if (this.wanted > 1 && reach < at - 1 && this.media === media) {
            const note = "The host of this recording does not let players jump ahead: it plays from the start.";
            media.after(el("p", "msg", note));
            this.setStatus(note, false, true); // said, as showMessage's are
          }
          if (Math.abs(media.currentTime - at) > 0.5) media.currentTime = at;
        });
        const src = new URL(url);
        src.hash = `t=${start}`;
        media.src = src.href;
        this.stage.append(media);
        if (talk.id) this.addCaptions(media, talk);
      } else if (media.readyState >= 1) {
        media.currentTime = this.at(media, start); // the same talk at another moment: just seek
      }
      // Called now, while the click/Enter still counts as a user gesture for autoplay rules. If the
      // browser refuses anyway the controls are there; a rejected promise must not reach the console.
      media.play().catch(() => {});
    }

    /**
     * The talk's transcript as the player's captions (WCAG 1.2.2), off until chosen in the player's menu, as on the
     * talk page. Added from script rather than as <track src>: a track from another origin loads only when its
     * media element is crossorigin, and that would make the media itself need CORS, which many hosts of talks
     * don't send. The API does. Its WebVTT is one "start --> end" line then the cue text per cue; VTTCue takes
     * that text (voice tags, entities) as it is.
     */
    async addCaptions(media, talk) {
      try {
        const response = await fetch(`${this.api}/api/talks/${encodeURIComponent(talk.id)}/transcript.vtt`);
        if (!response.ok) return; // no transcript: no captions, and the player works as before
        const vtt = await response.text();
        const seconds = (stamp) => stamp.split(":").reduce((sum, part) => sum * 60 + Number(part), 0);
        const track = media.addTextTrack("captions", "Transcript", talk.language || "");
        track.mode = "disabled";
        for (const [, from, to, text] of vtt.matchAll(/^([\d:.]+) --> ([\d:.]+)\n(.+(?:\n.+)*)/gm)) {
          track.addCue(new VTTCue(seconds(from), seconds(to), text));
        }
      } catch {
        // Unreachable API: the recording still plays, without captions.
      }
    }

    /** Stops this widget's player, for another that starts: one talk is heard at a time on a page. */
    pause() {
      if (this.media) this.media.pause();
      if (this.yt && this.yt.player.pauseVideo) this.yt.player.pauseVideo();
    }

    playYouTube(id, start) {
      pauseOthers(this);
      if (this.yt && this.yt.id === id && this.yt.player.seekTo) {
        this.yt.player.seekTo(start, true);
        this.yt.player.playVideo();
        return;
      }
      this.clearStage();
      const holder = el("div", "yt");
      const target = el("div"); // YT.Player replaces this with its iframe
      holder.append(target);
      this.stage.append(holder);
      const yt = (this.yt = { id, player: {} });
      loadYouTube().then((YT) => {
        if (this.yt !== yt) return; // another talk was chosen while the API loaded
        yt.player = new YT.Player(target, {
          host: "https://www.youtube-nocookie.com", // YouTube's privacy-enhanced player: no cookie until it plays
          videoId: id,
          width: "100%",
          height: "100%",
          playerVars: { start: Math.floor(start), autoplay: 1, playsinline: 1, rel: 0 },
          events: {
            onReady: (e) => { e.target.seekTo(start, true); e.target.playVideo(); },
            onStateChange: (e) => e.data === 1 && pauseOthers(this), // 1: playing, also from YouTube's own controls
          },
        });
      }, () => this.yt === yt && this.showMessage("YouTube's player couldn't be loaded; open the talk at the source."));
    }

    /** Shown in the player, and said by the status (the live region), which still said "N results". */
    showMessage(text) {
      this.clearStage();
      this.stage.append(el("p", "msg", text));
      this.setStatus(text, false, true);
    }

    clearStage() {
      if (this.media) this.media.pause();
      if (this.yt && this.yt.player.destroy) this.yt.player.destroy();
      this.media = this.yt = null;
      this.stage.replaceChildren();
    }

    closePlayer() {
      this.clearStage();
      this.player.hidden = true;
      this.quietFocus = true; // focus events fire synchronously, so the flag covers exactly this call
      this.input.focus();
      this.quietFocus = false;
    }
  }

  // Exposed for tests and for sites that want to reuse the safe snippet rendering.
  TalkSearch.snippetNodes = snippetNodes;
  TalkSearch.markedText = markedText;
  customElements.define("talk-search", TalkSearch);

  /** Whether the widget is rendered: one in a display:none menu can't take focus. */
  function shown(widget) {
    return widget.checkVisibility ? widget.checkVisibility() : widget.getClientRects().length > 0;
  }

  /** The shadow hosts `node` is inside, outermost first, then `node` itself. */
  function hostChain(node) {
    const chain = [node];
    for (let root = node.getRootNode(); root.host; root = root.host.getRootNode()) chain.unshift(root.host);
    return chain;
  }

  /** The widgets in the page's order, those inside other components' shadow roots too (which
   *  document.querySelectorAll doesn't see): ordered by the first of their host chains that differ, in one tree. */
  function inPageOrder() {
    return [...widgets].map(hostChain).sort((a, b) => {
      let i = 0;
      while (i < a.length - 1 && i < b.length - 1 && a[i] === b[i]) i++;
      return a[i].compareDocumentPosition(b[i]) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
    }).map((chain) => chain[chain.length - 1]);
  }

  /** Whether keys pressed at `target` are typed: a field or an editor, or a component whose shadow root is closed,
   *  which the key's target is (its field inside can't be seen, a date picker's, say). */
  function typingAt(target) {
    const name = target.localName || "";
    return target.isContentEditable || /^(input|textarea|select)$/i.test(name)
      || (/-/.test(name) && !target.shadowRoot);
  }

  // "/" and Ctrl/Cmd+K focus the first widget shown on the page, skipping any with shortcuts="off"; with none the key
  // is left alone. "/" only when not typing in a field; Ctrl+K not in text areas and rich editors ("insert link").
  document.addEventListener("keydown", (e) => {
    const target = e.composedPath()[0] || {};
    const editor = target.isContentEditable || /^textarea$/i.test(target.localName || "");
    const shortcut = (e.key === "/" && !typingAt(target) && !e.ctrlKey && !e.metaKey && !e.altKey)
      || ((e.ctrlKey || e.metaKey) && !e.altKey && !editor && (e.key || "").toLowerCase() === "k"); // autofill: no key
    const widget = shortcut && inPageOrder().find((w) => shown(w) && w.getAttribute("shortcuts") !== "off");
    if (!widget) return;
    e.preventDefault();
    widget.input.focus();
    widget.input.select();
  });
})();
