// The talk page: the player drives the transcript (the sentence being spoken is highlighted and kept
// in view) and the transcript drives the player (clicking a sentence seeks there).
(() => {
  const root = document.getElementById("talk");
  const base = document.body.dataset.base || "";  // the path the service is served at behind a proxy (root_path)
  const transcript = document.getElementById("transcript");
  const sentences = Array.from(transcript.querySelectorAll(".s"));
  const starts = sentences.map((s) => parseFloat(s.dataset.start));
  const follow = document.getElementById("follow");
  // What this script alone makes work (talk.html leaves them out without it): Follow along, Related, and each
  // sentence as a button to seek there, by keyboard too.
  follow.closest("label").hidden = false;
  document.getElementById("related-btn").hidden = false;
  for (const s of sentences) {
    s.tabIndex = 0;
    s.setAttribute("role", "button");
  }
  // A sentence focused or followed is scrolled into view below a player stuck at the top, not under it: by the
  // player's own height, which a notice under it adds to (a link past the end, a host that cannot seek: a hunt found
  // the focused sentence hidden beneath it on a phone). The stylesheet's padding, for the player alone, is what a
  // page without scripts keeps.
  const stage = document.querySelector(".talk-page .player");
  if (stage && "ResizeObserver" in window) {
    const clearOfPlayer = () => {
      const stuck = getComputedStyle(stage).position === "sticky";
      document.documentElement.style.scrollPaddingTop = stuck ? `${stage.getBoundingClientRect().height + 8}px` : "";
    };
    new ResizeObserver(clearOfPlayer).observe(stage);
    addEventListener("resize", clearOfPlayer);  // whether it sticks follows the window's size (style.css)
  }
  // A moment in the forms the server reads ?t= in (talksearch.timecode.link_seconds): 90, 1:30, 1:02:03, 15s, 1m30s;
  // a media fragment's "npt:" and ",end" are allowed. Anything else is 0, the start.
  function timeParam(value) {
    const v = (value || "").trim().toLowerCase().replace(/^npt:/, "").replace(/,.*/, "");
    const clockForm = /^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$/, unitsForm = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/;
    const parts = v.match(clockForm) || (v && v.match(unitsForm));
    const t = /^\d+(\.\d+)?$/.test(v) ? parseFloat(v)
      : parts ? (parseFloat(parts[1] || 0) * 60 + parseFloat(parts[2] || 0)) * 60 + parseFloat(parts[3] || 0) : 0;
    return t > 0 && t < 1e7 ? t : 0;
  }
  // #t= never reaches the server (a fragment), so the page reads it itself; ?t= the server has read already.
  const hashMoment = () => new URLSearchParams(location.hash.slice(1)).get("t");  // null: the address has no #t=
  const linked = parseFloat(root.dataset.start) || timeParam(hashMoment());
  const duration = parseFloat(root.dataset.duration) || 0;  // the recording's length as the indexer measured it
  const pastTheEnd = (t) => duration > 0 && t > duration;
  // A #t= past the recording's end, which the server did not see, plays it from the start, as ?t= does.
  const startAt = pastTheEnd(linked) ? 0 : linked;
  let player = null;  // { seek(seconds), time() }
  let current = transcript.querySelector(".s.now");
  let userScrolled = 0;
  // Following the player scrolls smoothly, unless the reader asked their system for less motion.
  const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

  // The reader scrolling pauses following. Anywhere on the page, not on the transcript alone: below 48rem the page
  // scrolls, not the transcript, and a swipe may start on the sticky video, the tools or the chapters. A key counts
  // in the transcript, or one that scrolls the page outside a field or player (where it types, seeks or plays).
  const readerScrolled = () => { userScrolled = Date.now(); };
  const SCROLL_KEYS = new Set(["ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End", " "]);
  for (const name of ["wheel", "touchmove"]) document.addEventListener(name, readerScrolled, { passive: true });
  document.addEventListener("keydown", (event) => {
    const inField = event.target.closest?.("input, textarea, select, video, audio, [contenteditable]");
    if (transcript.contains(event.target) || (SCROLL_KEYS.has(event.key) && !inField)) readerScrolled();
  }, { passive: true });

  function sentenceAt(t) {  // the last sentence starting at or before t (binary search)
    let lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= t + 0.05) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found >= 0 ? sentences[found] : null;
  }

  // Following must not take the keyboard's place out of sight (a field typed in, a control, a sentence Tabbed to, as
  // a hunt at 200% zoom found): it waits while the scroll that would centre the sentence moves the focused element
  // out of the window or the transcript's box. Focus a click gave (not :focus-visible) is the mouse's, and an element
  // the scroll leaves where it is (beside the transcript's own box, in a player stuck at the top) is not moved.
  function hidesFocus(s) {
    const focused = document.activeElement;
    if (!focused || focused === document.body || !focused.matches(":focus-visible")) return false;
    const ownBox = getComputedStyle(transcript).overflowY !== "visible";  // two columns: the transcript scrolls itself
    const stuck = () => getComputedStyle(focused.closest(".player") || focused).position === "sticky";
    if (ownBox ? !transcript.contains(focused) : stuck()) return false;
    const frame = ownBox ? transcript.getBoundingClientRect() : { top: 0, bottom: innerHeight };
    const target = s.getBoundingClientRect(), place = focused.getBoundingClientRect();
    const by = (target.top + target.bottom - frame.top - frame.bottom) / 2;  // how far centring the sentence scrolls
    const seen = (top, bottom) => top >= frame.top - 1 && bottom <= frame.bottom + 1;
    return seen(place.top, place.bottom) && !seen(place.top - by, place.bottom - by);
  }

  // The chapter playing is the list's current one, for a screen reader as for the eye: as the API names a moment's
  // (records.chapter_index), the one it is in, or the next where that starts within the lead (a moment found just
  // before a chapter's first words); none in a gap between chapters.
  const chapterLinks = Array.from(document.querySelectorAll(".chapters a[data-seek]"));
  const chapterLead = parseFloat(document.querySelector(".chapters")?.dataset.lead) || 0;
  const inChapter = (a, at) => parseFloat(a.dataset.seek) <= at && at < (parseFloat(a.dataset.end) || Infinity);
  function markChapter(t) {
    const playing = chapterLinks.find((a) => inChapter(a, t + chapterLead)) || chapterLinks.find((a) => inChapter(a, t));
    for (const a of chapterLinks) {
      if (a === playing) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
    }
  }
  markChapter(startAt);

  // Said as the server says it for ?t= (past_end_notice: its words, its place after the player), a status, as it
  // appears once the page has been read; emptied when a later #t= is within the talk.
  let pastEndNotice = null;
  function sayPastTheEnd(t) {
    if (!pastEndNotice) {
      pastEndNotice = document.createElement("p");
      pastEndNotice.className = "notice";
      pastEndNotice.setAttribute("role", "status");
      (document.getElementById("media") || root.querySelector(".player .frame"))?.after(pastEndNotice);
    }
    pastEndNotice.textContent = t ? `The link asks for ${clock(t)}, past the end of this talk ` +
      `(${clock(duration)}): it plays from the start.` : "";
  }
  if (pastTheEnd(linked)) sayPastTheEnd(linked);

  function mark(t) {
    markChapter(t);
    const s = sentenceAt(t);
    if (s === current) return;
    if (current) { current.classList.remove("now"); current.removeAttribute("aria-current"); }
    current = s;
    if (!s) return;
    s.classList.add("now");
    s.setAttribute("aria-current", "true");
    // Keep the spoken sentence in view, unless the reader scrolled away in the last few seconds. Only its nearest
    // scrolling box moves: the transcript's in two columns, never the page around it as well.
    if (follow.checked && Date.now() - userScrolled > 4000 && !hidesFocus(s)) {
      s.scrollIntoView({ block: "center", container: "nearest", behavior: reducedMotion.matches ? "auto" : "smooth" });
    }
  }

  if (startAt > 0 && !current) mark(startAt);  // a #t= link: the sentence the server could not know of
  // A link to a moment (?t=) opens on its sentence: the server highlighted it, put it on screen too.
  if (current && startAt > 0) current.scrollIntoView({ block: "center" });

  const media = document.getElementById("media");
  if (media) {
    // An mp3 without a seek table (VBR, no Xing/Info frame): the browser guesses its length from its first frame's
    // bitrate and seeks by that guess, so every time it plays and shows is off by the guess's ratio (words from
    // 0:57 at "1:19" in one file). Its times are scaled by the measured length; any other recording's agree.
    const scale = () => (duration && isFinite(media.duration) && Math.abs(media.duration / duration - 1) > 0.02
      ? media.duration / duration : 1);
    const now = () => media.currentTime / scale();
    const note = document.getElementById("seek-note");
    let ownSeek = false;  // a seek the page asked for (the link's moment, a sentence): the address has it already
    // Where to play from once the recording is read: the link's moment, or a sentence asked for before (media on
    // another host is read only when played)
    let moment = startAt;
    function jump(t) {
      if (media.error) return;  // nothing to seek in: the note says so (below)
      // A host that ignores Range requests lets a player play from the start only: said, rather than a silent 0:00.
      // (Judged once the player knows the recording: before, nothing is seekable on any host.)
      const reach = media.seekable.length ? media.seekable.end(media.seekable.length - 1) : 0;
      note.hidden = !(media.readyState >= 1 && t > 1 && reach < t * scale() - 1);
      note.textContent = note.hidden ? "" : `The host of this recording does not let players jump ahead: it plays ` +
        `from the start. The moment is at ${clock(t)}.`;
      ownSeek = true;
      media.currentTime = t * scale();
    }
    // A recording this browser cannot play (an MPEG-TS, a codec it lacks) or whose host fails: said, with a link to
    // the recording to download or open elsewhere, where the player would sit at 0:00 and say nothing.
    const unplayable = () => {
      note.hidden = false;
      note.replaceChildren("This browser could not play this recording. ", Object.assign(document.createElement("a"),
        { href: media.getAttribute("src").split("#")[0], textContent: "Open the recording" }), ".");
    };
    if (media.error) unplayable(); else media.addEventListener("error", unplayable);
    player = {
      seek(t) { moment = t; jump(t); media.play().catch(() => {}); },
      // Until it has read the recording a player is at 0:00 whatever the link asked for (the src's #t= is applied as
      // it loads), unless a seek was asked for since.
      time: () => (media.readyState < 1 ? moment : now()),
    };
    const begin = () => { if (moment > 0) jump(moment); };
    if (media.readyState >= 1) begin(); else media.addEventListener("loadedmetadata", begin, { once: true });
    media.addEventListener("timeupdate", () => mark(now()));
    // The address follows the player where the listener stops or moves it (not while it plays), so a link copied
    // from the address bar, or a reload, is where they were; at the end, where they last were. Not before anything
    // has played: the seeks a page makes as it opens (the src's #t=, a host refusing to seek) keep the link's moment.
    const listened = () => media.played.length > 0;
    media.addEventListener("seeked", () => { mark(now()); if (!ownSeek && listened()) address(now()); ownSeek = false; });
    media.addEventListener("pause", () => { if (!media.ended && listened()) address(now()); });
  } else if (root.dataset.kind === "youtube") {
    player = youTubeOnRequest();
  }

  // A button stands in for YouTube's player, so that opening the page contacts no one but this service. Asked to
  // play (the button, a sentence, a moment), it loads YouTube's IFrame API and its player from youtube-nocookie.com,
  // which sets no cookie before the video plays, and plays from the moment asked for.
  function youTubeOnRequest() {
    const button = document.getElementById("yt-play");
    const link = document.getElementById("yt-open");  // the talk on YouTube: without scripts, or if the API fails
    let moment = startAt;  // where to play from: the link's moment, or the last one asked for before the player is
    let loading = false;
    function load(focus) {
      if (loading) return;
      loading = true;
      // The API calls this once its script is ready.
      window.onYouTubeIframeAPIReady = () => {
        const yt = new YT.Player(document.getElementById("yt"), {
          host: "https://www.youtube-nocookie.com",
          videoId: root.dataset.youtube,
          playerVars: { start: Math.floor(moment), autoplay: 1, playsinline: 1, rel: 0 },
          events: { onReady: () => {
            // Not started yet (-1) or cued (5), YouTube's player says 0:00 whatever its start is.
            const unstarted = () => [-1, 5].includes(yt.getPlayerState());
            player = { seek(t) { yt.seekTo(t, true); yt.playVideo(); }, time: () => (unstarted() ? moment : yt.getCurrentTime()) };
            player.seek(moment);
            // The button that had the focus is gone: the player has it, for its own keys (k, arrows...).
            if (focus) yt.getIframe().focus();
            setInterval(() => mark(yt.getCurrentTime()), 250);
          } },
        });
      };
      const script = document.createElement("script");
      script.src = "https://www.youtube.com/iframe_api";  // the API is served from there only; its player is not
      script.onerror = () => {  // said, with the way to the talk on YouTube from where the listener asked to be
        loading = false;
        const url = new URL(link.href);
        url.searchParams.set("t", `${Math.floor(moment)}s`);
        link.href = url.href;
        // Said (its box is a status region) where the button was: the link takes its place, and the focus if the
        // button had it
        link.textContent = `YouTube's player could not be loaded: watch on YouTube from ${clock(moment)}`;
        link.hidden = false;
        button.hidden = true;
        if (focus) link.focus();
      };
      document.head.append(script);
    }
    button.hidden = false;
    link.hidden = true;
    button.addEventListener("click", () => load(true));
    return { seek(t) { moment = t; load(false); }, time: () => moment };
  }

  function address(t) {
    // To the hundredth, as the server writes ?t= (url_seconds): a reload lands on this sentence, not the one before.
    const hundredths = Math.round(t * 100) / 100;
    history.replaceState(null, "", hundredths > 0 ? "?t=" + hundredths : location.pathname);
  }

  // Where the listener is: the player's time; before there is a player, the sentence marked, or the link's moment.
  function here() {
    return player ? player.time() : (current ? parseFloat(current.dataset.start) : startAt);
  }

  function seek(t) {
    if (player) player.seek(t);
    mark(t);
    address(t);
  }

  // A #t= followed within the page (a moment link pasted into this talk's tab, #t=8 then #t=15) opens no new page:
  // read as the first one was, and the player moved there.
  addEventListener("hashchange", () => {
    const asked = hashMoment();
    if (asked === null) return;  // another fragment (#transcript): not a moment
    const t = timeParam(asked);
    sayPastTheEnd(pastTheEnd(t) ? t : 0);
    seek(pastTheEnd(t) ? 0 : t);
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest(".s, [data-seek]");
    if (!target) return;
    // A modified click on a link is the browser's (a new tab or window), not a seek here.
    if (target.matches("a") && (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey)) return;
    event.preventDefault();
    seek(parseFloat(target.dataset.start ?? target.dataset.seek));
  });
  transcript.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === " ") && event.target.classList.contains("s")) {
      event.preventDefault();
      seek(parseFloat(event.target.dataset.start));
    }
  });

  function clock(seconds) {
    const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
  }

  // A moment in the list: its words (and its talk's title) marked with the talk's language, as the server marks
  // the transcript's, so that a screen reader reads them in that language rather than the page's English.
  // Its time link is named by what it does (name), not by a bare "0:54".
  function item(href, seconds, label, text, seekable, language, name) {
    const li = document.createElement("li");
    if (language) { li.lang = language; li.dir = "auto"; }
    const a = document.createElement("a");
    a.href = href;
    a.className = "ts";
    a.textContent = clock(seconds);
    a.setAttribute("aria-label", name);
    if (seekable) a.dataset.seek = seconds;
    li.append(a);
    if (label) { const b = document.createElement("a"); b.href = href; b.textContent = label; li.append(b, " "); }
    li.append(document.createTextNode(text));
    return li;
  }

  // A moment's first words, to name its link: the sentence said then, cut short.
  function sentenceStart(t) {
    const words = (sentenceAt(t)?.textContent || "").trim().split(/\s+/);
    return words.length > 8 ? words.slice(0, 8).join(" ") + "…" : words.join(" ");
  }

  // Copy link to this moment: the address as the page writes it when the listener stops (address()), at where they
  // are now, so the address bar says the same. Where the clipboard can't be written (no API on a plain-http site, or
  // the browser refuses), the link is put in a field and selected, to be copied by hand. Shown only with this script.
  const copyButton = document.getElementById("copy-moment");
  const copyField = document.getElementById("copy-moment-link");
  const copyStatus = document.getElementById("copy-moment-status");
  copyButton.hidden = false;
  copyButton.addEventListener("click", async () => {
    copyStatus.textContent = "";  // emptied first, so that copying again is announced again
    address(here());
    const link = location.href;
    try {
      await navigator.clipboard.writeText(link);
      copyField.hidden = true;
      copyStatus.textContent = "Link copied.";
    } catch {
      copyField.value = link;
      copyField.hidden = false;
      copyField.focus();
      copyField.select();
      copyStatus.textContent = "The link is selected: copy it with Ctrl+C (⌘C on a Mac).";
    }
  });

  // Find in this talk: a search restricted to this talk, best first, a page at a time. A search by meaning ranks
  // every moment of the talk, so what Find lists, counts and marks in the transcript as found are the moments that
  // say the words (their snippet marks them, as keyword search reads them); where none does, the closest in meaning
  // or sound are listed instead, said to be only that, and none is marked found.
  const find = document.getElementById("find");
  const hits = document.getElementById("find-hits");
  const findStatus = document.getElementById("find-status");
  const more = document.getElementById("find-more");
  const moments = (n) => n === 1 ? "1 moment" : `${n} moments`;
  const SKIPPED_PAGES = 4;  // pages of moments that only mean alike Find asks past for one that says the words
  let finding = null;  // the search in flight: a newer one (or a cleared box) cancels it, so only the last one shows
  // the query, the offset of the next page of moments while the API says there is one, and whether the list is of
  // the moments that say the words (else the closest)
  let next = null;

  // The words a result's snippet marks (and its English's, for a talk indexed with --translate), as they are written
  // in the passage: none where the passage is only close in meaning or sound.
  function markedWords(r) {
    const html = document.createElement("div");
    html.innerHTML = (r.snippet || "") + " " + (r.translation_snippet || "");  // safe: escaped text and <mark>
    return Array.from(html.querySelectorAll("mark"), (m) => m.textContent.toLowerCase());
  }

  // The found moment's sentences are marked, by more than colour (a screen reader is told a found sentence is one):
  // those that say a marked word, or all of the passage where none does on its own (the words in its English).
  function markFound(r, words) {
    const inPassage = sentences.filter((s, i) => starts[i] >= r.start - 0.05 && starts[i] < r.end);
    const saying = inPassage.filter((s) => words.some((w) => s.textContent.toLowerCase().includes(w)));
    for (const s of saying.length ? saying : inPassage) {
      s.classList.add("hit");
      s.setAttribute("aria-describedby", "find-found");
    }
  }

  // The API's JSON answer to a request (`fetching`: its fetch, aborted by `signal`) as { body }, or why there is none
  // as { failed }, said as the search page says it (search.js): the API's own message; else the HTTP status of an
  // answer that is not the API's JSON (the server's error text, a proxy's page); else that nothing answered
  // (offline). `what` names the request ("Search"), `unreachable` is its sentence for the last. Null for a request
  // aborted for a newer one, which says its own.
  async function ask(fetching, signal, what, unreachable) {
    try {
      const response = await fetching;
      const body = await response.json().catch(() => null);
      if (signal.aborted) return null;
      if (response.ok && body) return { body };
      return { failed: body?.error?.message || `${what} failed (${response.status}); try again.` };
    } catch {
      return signal.aborted ? null : { failed: unreachable };
    }
  }

  // The API's page of moments added to the list, as `saying` has it (whether the list is of the moments that say the
  // words; unknown for the first page, which decides it): its value, now known.
  function listPage(body, saying) {
    const page = body.results.map((r) => ({ r, words: markedWords(r) }));
    saying ??= page.some(({ words }) => words.length);
    for (const { r, words } of page) {
      if (saying && !words.length) continue;  // only close in meaning: not what was asked to be found
      if (saying) markFound(r, words);
      const li = item("?t=" + r.start, r.start, "", "", true, r.talk.language,
                      `Play from ${clock(r.start)}: ${sentenceStart(r.start)}`);
      const snippet = document.createElement("span");
      snippet.innerHTML = r.snippet;  // safe: the server escapes the text and adds only <mark>
      li.append(snippet);
      if (r.translation_snippet) {  // a talk indexed with --translate: its English, where the query's words may be
        const english = document.createElement("p");
        english.className = "translation";
        english.lang = "en";
        english.innerHTML = r.translation_snippet;  // safe, as the snippet
        li.append(english);
      }
      hits.append(li);
    }
    return saying;
  }

  // A page of moments from `offset` on (`saying` as listPage has it). The ranking mixes moments that only mean alike
  // in among those that say the words: a page of only the former is asked past, up to SKIPPED_PAGES of them.
  async function findPage(q, offset, saying) {
    finding?.abort();
    const asking = (finding = new AbortController());
    const before = hits.childElementCount, more_asked = offset > 0;
    let body;
    for (let asked = 0; ; asked++) {
      const p = new URLSearchParams({ q, talk: root.dataset.id, limit: "10", offset: String(offset) });
      const answer = await ask(fetch(base + "/api/search?" + p, { signal: asking.signal }), asking.signal, "Search",
                               "Search is not reachable right now.");
      if (!answer) return;
      // Said in the status line (role=status, which screen readers announce), not as bare text in the list.
      if (answer.failed) { findStatus.textContent = answer.failed; return; }
      body = answer.body;
      saying = listPage(body, saying);
      if (!saying || hits.childElementCount > before || body.next_offset == null || asked >= SKIPPED_PAGES) break;
      offset = body.next_offset;
    }
    const shown = hits.childElementCount;
    // none that says the words in as many pages as Find asks past: past the last one, as far as it looks
    const onward = body.next_offset != null && (!saying || shown > before);
    next = onward ? { q, offset: body.next_offset, saying } : null;
    more.hidden = !next;
    // With more to come these are the best moments so far, not all the talk has: said so, not "10 found".
    findStatus.textContent = !shown ? "Not found in this talk."
      // the nearest moments by meaning or sound only: said so, as the search page says it (words_found)
      : !saying ? (body.words_found === false ? `This talk never says “${q}”` : `None of this talk’s best moments says “${q}”`) +
                  `; the ${moments(shown)} closest in meaning or sound.`
      : next ? `The ${shown === 1 ? "best moment" : `${shown} best moments`} in this talk; more below.`
      : `${moments(shown)} found in this talk.`;
    // After "More": on to the first new moment, as the button may have gone (the last page) and taken focus with it;
    // to the last one where that page added none.
    if (more_asked) hits.children[shown > before ? before : shown - 1]?.querySelector("a").focus();
  }

  find.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("find-q").value.trim();
    for (const s of transcript.querySelectorAll(".s.hit")) {
      s.classList.remove("hit");
      s.removeAttribute("aria-describedby");
    }
    hits.replaceChildren();
    findStatus.textContent = "";
    next = null;
    more.hidden = true;
    if (!q) { finding?.abort(); return; }
    return findPage(q, 0);
  });
  more.addEventListener("click", () => { if (next) findPage(next.q, next.offset, next.saying); });

  // Related: moments in other talks about what is being said now.
  const related = document.getElementById("related");
  const relatedStatus = document.getElementById("related-status");
  let relating = null;  // the request in flight: a newer one cancels it, so an older answer arriving last can't show
  document.getElementById("related-btn").addEventListener("click", async () => {
    relatedStatus.textContent = "";  // emptied first, so that the same answer twice is announced twice
    relating?.abort();
    const asking = (relating = new AbortController());
    const p = new URLSearchParams({ talk: root.dataset.id, at: String(Math.floor(here() || 0)) });
    const answer = await ask(fetch(base + "/api/related?" + p, { signal: asking.signal }), asking.signal,
                             "Related moments", "Related moments are not reachable right now.");
    if (!answer) return;
    related.replaceChildren();  // a failure too: the list of an earlier moment is no answer to this one
    if (answer.failed) { relatedStatus.textContent = answer.failed; return; }
    const body = answer.body;
    relatedStatus.textContent = body.results.length ? `${moments(body.results.length)} in other talks.`
                                                    : "No related moments in other talks.";
    for (const r of body.results) {
      related.append(item(r.page, r.start, r.talk.title, " — " + r.text, false, r.talk.language,
                          `Play ${r.talk.title} from ${clock(r.start)}`));
    }
  });
})();
