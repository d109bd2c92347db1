// Search as you type: the server renders the results (GET /results, the same template as the page),
// so there is one rendering path; this script only fetches and swaps them, and opens inline players.
(() => {
  const form = document.getElementById("search");
  const q = document.getElementById("q");
  const results = document.getElementById("results");
  const status = document.getElementById("results-status");
  let timer = null;
  let inflight = null;
  let restored = null;  // the search of Back or Forward in flight (update "restored")
  const base = document.body.dataset.base || "";  // the path the service is served at behind a proxy (root_path)

  function params() {
    const p = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) p.append(key, value);
    return p;
  }

  // The page's own parts that the swapped results do not hold: the Filters badge and the window title,
  // as the server writes them (search.html). The talks searched within are no Filter: the results name them.
  const summary = form.querySelector(".filters summary");
  function showForm(p) {
    const filters = [...p.keys()].filter((key) => !["q", "group", "talk"].includes(key)).length;
    const badge = document.createElement("span");
    badge.className = "count";
    badge.textContent = filters;
    summary.replaceChildren("Filters", ...(filters ? [" ", badge] : []));
    // the server's title replaces it when the results come (update): a later page's names its range
    document.title = p.get("q") ? `${p.get("q")} – talksearch` : "talksearch";
  }

  // Screen readers announce what the search found (the count line, or why there is nothing), not the whole
  // list that each keystroke replaces: only #results-status is a live region. A note that the results are only the
  // closest (no talk says the words, or none holds the quoted phrase) or are of the query mended (a typing slip) is
  // said before the count, which alone would say that the words were found as typed.
  let settling = null;  // an announcement waiting for the typing to settle
  function announce() {
    clearTimeout(settling);
    const notes = [...results.querySelectorAll(".corrected, .quotes-dropped, .words-not-found")];
    const line = results.querySelector(".status .found") || results.querySelector(".status, .notice");
    status.textContent = [...notes, line].filter(Boolean).map((el) => el.textContent.replace(/\s+/g, " ").trim())
      .join(" ");
  }

  // Typed, the results follow each pause, but are said once the typing has settled: said at every pause ("…“ku”",
  // "…“kub”"), they talked over the screen reader's echo of the keys. A key pressed meanwhile puts it off again;
  // Enter, a filter chosen, Back or Forward say what was found at once.
  const SETTLED_MS = 800;  // after the results, themselves 200 ms or more after the last key
  form.addEventListener("input", () => clearTimeout(settling));
  function announceSettled() {
    clearTimeout(settling);
    settling = setTimeout(announce, SETTLED_MS);
  }

  // How the server read the search the results show (results.html's .reading): the form's fields in the form's
  // terms, and the query that says that search and nothing else.
  function reading() {
    const script = results.querySelector("script.reading");
    return script ? JSON.parse(script.textContent) : null;
  }

  // Two queries search alike with the same values, whatever their order or their spelling in a URL (%20 or +).
  const searchKey = (p) => JSON.stringify([...p].filter(([, value]) => value.trim()).sort());
  const sameSearch = (a, b) => searchKey(a) === searchKey(b);
  let here = new URLSearchParams(reading()?.query ?? location.search);  // the search of the current history entry

  // History: an explicit search (Enter, the button, a filter) is an entry of its own, so Back returns to the one
  // before; typing as you go replaces its own entry (one per run of typing in a field, not one per pause). A run
  // ends at Back or Forward: typing there makes an entry, rather than rewriting the one gone back to.
  let run = null;  // the field whose run of typing made the current entry
  function remember(how, field) {
    const p = params();
    const url = p.toString() ? base + "/?" + p : base + "/";
    const typing = how === "typed" ? field : null;
    if (sameSearch(p, here)) {
      if (typing) return;
      history.replaceState(null, "", url);  // the search typed so far, now chosen: typing on makes an entry
    }
    else if (typing && run === typing) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
    run = typing;
    here = p;
  }

  // Back or Forward to another search: the form as that URL spells it, at once, until its results say how the
  // server read it (fill). The server reads the last of a repeated field, as here.
  function restoreForm() {
    const p = new URLSearchParams(location.search);
    within(p.getAll("talk"));
    for (const field of form.elements) {
      if (!field.name || field.type === "hidden") continue;
      const values = p.getAll(field.name);
      if (field.localName === "select") {
        for (const option of field.options) option.selected = values.includes(option.value);
      }
      else if (field.type === "checkbox") field.checked = values.at(-1) === field.value;
      else field.value = values.at(-1) || "";
    }
  }

  // The form as the server read the URL that Back or Forward reached: the menus select what its results were
  // filtered by, whatever the URL's spelling ("tomasz+wierzbicki", en-US, 20240101), so that it shows what a load
  // of that URL shows.
  function fill(read) {
    within(read.talk || []);
    for (const field of form.elements) {
      if (field.localName === "select") choose(field, read.menus[field.name] || []);
      else if (field.type === "checkbox") field.checked = read[field.name] === field.value;
      else if (field.name && field.type !== "hidden") field.value = read[field.name] ?? "";
    }
    here = new URLSearchParams(read.query);
    showForm(params());
  }

  // The talks searched within: a hidden field each (search.html), every one of a repeated "talk", so that a new
  // search stays within them.
  function within(ids) {
    for (const field of form.querySelectorAll("input[type=hidden][name=talk]")) field.remove();
    form.querySelector(".box").after(...ids.map((id) => Object.assign(document.createElement("input"),
                                                                     { type: "hidden", name: "talk", value: id })));
  }

  // A menu's chosen options, [value, text]: one the menu lacks (a name no talk has, chosen on another page) is
  // added as the server adds it, and more than one makes it a menu of several choices, as the server writes it.
  function choose(menu, chosen) {
    const wanted = chosen.map(([value]) => value);
    for (const [value, text] of chosen) {
      if (![...menu.options].some((option) => option.value === value)) menu.add(new Option(text, value));
    }
    menu.multiple = wanted.length > 1;
    for (const option of menu.options) option.selected = wanted.includes(option.value);
    if (!wanted.length) menu.value = "";
  }

  // A grouped result's timeline has a marker per moment, each a 24px target (WCAG 2.5.8) at the moment's place:
  // moments closer than that would overlap. A marker whose centre is too near the last one shown is hidden and its
  // time goes into that one's name ("0:02, 0:05"), which links to the first of them. Measured again as the width
  // changes; without this script every marker stays.
  const TARGET_PX = 24;
  function foldTimelines() {
    for (const timeline of results.querySelectorAll(".timeline")) {
      if (!timeline.offsetWidth) continue;  // not laid out: nothing to measure
      const title = timeline.closest(".result")?.querySelector(".title")?.textContent ?? "";
      const markers = [...timeline.querySelectorAll("a[data-time]")];
      for (const marker of markers) marker.hidden = false;
      const centres = markers.map((marker) => {
        const box = marker.getBoundingClientRect();
        return box.left + box.width / 2;
      });
      const name = (marker, times) => {
        marker.title = times.join(", ");
        marker.setAttribute("aria-label", `${title} at ${times.join(", ")}`);
      };
      let shown = null, at = 0, times = [];
      markers.forEach((marker, i) => {
        if (shown && centres[i] - at < TARGET_PX) {
          marker.hidden = true;
          times.push(marker.dataset.time);
          return;
        }
        if (shown) name(shown, times);
        [shown, at, times] = [marker, centres[i], [marker.dataset.time]];
      });
      if (shown) name(shown, times);
    }
  }
  let folding = 0;
  addEventListener("resize", () => { cancelAnimationFrame(folding); folding = requestAnimationFrame(foldTimelines); });
  foldTimelines();

  // how: "typed" (in `field`), "chosen", or "restored" (Back or Forward: the URL's own query is searched, as a
  // load of it would be, with what the form does not hold, such as a later page's offset).
  async function update(how, field = "q") {
    const restoring = how === "restored";
    const p = restoring ? new URLSearchParams(location.search) : params();
    if (restoring) here = p;
    else remember(how, field);
    showForm(params());
    if (inflight) inflight.abort();
    inflight = new AbortController();
    restored = restoring ? inflight : null;
    try {
      const response = await fetch(base + "/results?" + p, { signal: inflight.signal });
      if (response.ok) {
        results.innerHTML = await response.text();
        const read = reading();
        if (restoring && read) fill(read);
        // the window's title as the server writes it for a load of that URL ("gpu – moments 11–20 – talksearch")
        if (read?.title) document.title = read.title;
        foldTimelines();
      } else {
        // Refused (too many searches, say): the API's error shape, whose message is shown as text.
        const body = await response.json().catch(() => null);
        const notice = document.createElement("p");
        notice.className = "notice";
        notice.textContent = body?.error?.message || `Search failed (${response.status}); try again.`;
        results.replaceChildren(notice);
      }
    } catch (error) {
      if (error.name === "AbortError") return;  // a newer search replaces this one and announces itself
      results.innerHTML = '<p class="notice">Search is not reachable right now.</p>';
    }
    if (how === "typed") announceSettled();
    else announce();
  }

  // A date typed digit by digit is a date at several keystrokes, and Chromium says each is a change (0002-03-15,
  // 0020-03-15, 0202-03-15, then 2024-03-15): typed, a date is searched as the box's words are, once the typing
  // pauses, one history entry for the run, and a year not yet of four digits only when the field is left. A date
  // picked from the calendar is a choice, searched at once.
  const DATE_PAUSE_MS = 500;
  let keyed = null;  // the date field being typed in: keys pressed in it since it was last clicked
  const unfinished = (date) => date !== "" && Number(date.slice(0, 4)) < 1000;
  function dateTyped(field) {
    clearTimeout(timer);
    if (!unfinished(field.value)) timer = setTimeout(() => update("typed", field.name), DATE_PAUSE_MS);
  }
  form.addEventListener("keydown", (event) => { if (event.target.type === "date") keyed = event.target; });
  form.addEventListener("pointerdown", () => { keyed = null; });
  form.addEventListener("focusout", (event) => {
    const field = event.target;
    if (field !== keyed) return;
    keyed = null;
    if (field.value !== (here.get(field.name) || "")) { clearTimeout(timer); update("typed", field.name); }
  });

  // Typed in or chosen while the results of Back or Forward are on their way: they would set the form as the server
  // read that URL (fill), over the new words ("gpu" and "kubernetes" typed at once made "gpuetes"). The reader has
  // moved on from that search: it is dropped, and theirs follows.
  form.addEventListener("input", () => restored?.abort());
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => update("typed"), 200); });
  form.addEventListener("change", (event) => {
    if (event.target === q) return;
    if (event.target === keyed) dateTyped(event.target);
    else { clearTimeout(timer); update("chosen"); }
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); update("chosen"); });
  addEventListener("popstate", () => { clearTimeout(timer); keyed = run = null; restoreForm(); update("restored"); });

  // A page of the same search reached by its "More results" or "Previous" link loaded with focus at its top, six Tabs
  // from its first result, and said nothing: focus goes to that result and the count line ("Moments 11–20") is said.
  // Not at a reload or Back, where the browser puts focus and scroll back as they were.
  function paged() {
    const navigation = performance.getEntriesByType("navigation")[0];
    if (!document.referrer || navigation?.type !== "navigate") return false;
    const before = new URL(document.referrer);
    const unpaged = (query) => {
      const p = new URLSearchParams(query);
      p.delete("offset");
      return p;
    };
    return before.origin === location.origin && before.pathname === location.pathname
      && before.search !== location.search && sameSearch(unpaged(before.search), unpaged(location.search));
  }
  if (paged()) {
    results.querySelector(".result .play, .talks .title")?.focus();
    announce();
  }

  function player(item) {
    const start = parseFloat(item.dataset.start) || 0;
    const title = item.querySelector(".title").textContent;  // the player's name, for screen readers
    let el;
    if (item.dataset.kind === "youtube") {
      el = document.createElement("iframe");
      el.src = "https://www.youtube-nocookie.com/embed/" + encodeURIComponent(item.dataset.youtube) +
               "?autoplay=1&playsinline=1&start=" + Math.floor(start);
      el.allow = "autoplay; encrypted-media; picture-in-picture; fullscreen";
      el.title = title;
    } else {
      el = document.createElement(item.dataset.kind === "audio" ? "audio" : "video");
      el.controls = true;
      el.preload = "auto";
      // on an iPhone a video without it plays full screen, away from its result (the talk page's has it too)
      if (el.localName === "video") el.setAttribute("playsinline", "");
      el.src = item.dataset.src;
      el.setAttribute("aria-label", title);
      // A recording this browser cannot play (an MPEG-TS, a codec it lacks) or whose host fails: said, with a link to
      // it, as the talk page says it (talk.js), where the player would sit at 0:00 and say nothing.
      el.addEventListener("error", () => {
        const note = document.createElement("p");
        note.className = "notice";
        note.setAttribute("role", "status");
        note.append("This browser could not play this recording. ", Object.assign(document.createElement("a"),
          { href: item.dataset.src.split("#")[0], textContent: "Open the recording" }), ".");
        el.after(note);
      }, { once: true });
      el.addEventListener("loadedmetadata", () => {
        // An mp3 without a seek table (VBR, no Xing/Info frame): the browser guesses its length from its first
        // frame and seeks by that guess, so the moment is scaled by the length the indexer measured, as on the talk
        // page (talk.js); any other recording's lengths agree.
        const measured = parseFloat(item.dataset.duration) || 0;
        const at = measured && isFinite(el.duration) && Math.abs(el.duration / measured - 1) > 0.02
          ? start * el.duration / measured : start;
        // said where the host lets a player play from the start only, as the talk page says it (talk.js)
        const reach = el.seekable.length ? el.seekable.end(el.seekable.length - 1) : 0;
        if (start > 1 && reach < at - 1) {
          const note = document.createElement("p");
          note.className = "notice seek-note";
          note.setAttribute("role", "status");
          note.textContent = "The host of this recording does not let players jump ahead: it plays from the start.";
          el.after(note);
        }
        el.currentTime = at;
        el.play().catch(() => {});
      }, { once: true });
      if (el.localName === "video") {  // captions from the transcript, as the talk page's player has them
        const track = document.createElement("track");
        track.kind = "captions";
        track.label = "Transcript";
        track.srclang = item.dataset.language || "en";
        track.src = item.dataset.captions;
        el.append(track);
      }
    }
    el.className = "inline-player";
    return el;
  }

  results.addEventListener("click", (event) => {
    const play = event.target.closest(".play");
    // A modified click (new tab or window) is the browser's, as on the talk page; a middle click is no "click".
    if (!play || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const item = play.closest(".result");
    if (!item || !["youtube", "video", "audio"].includes(item.dataset.kind)) return;  // the link opens the talk page
    event.preventDefault();
    for (const slot of results.querySelectorAll(".player-slot")) if (!item.contains(slot)) slot.replaceChildren();
    item.querySelector(".player-slot").replaceChildren(player(item));
  });
})();
