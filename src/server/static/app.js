// The page talks to the server's JSON API and follows a job over server-sent events.

const $ = (id) => document.getElementById(id);

const form = $("job-form");
const contentInput = $("content");
const stylesInput = $("styles");
const presetSelect = $("preset");
const sizeInput = $("size");
const strengthInput = $("strength");
const strengthValue = $("strength-value");
const startButton = $("start");
const message = $("message");
const run = $("run");
const stateText = $("state");
const progressBar = $("progress");
const etaText = $("eta");
const preview = $("preview");
const cancelButton = $("cancel");
const download = $("download");
const gallery = $("gallery");
const notices = $("notices");

let config = { maxStyles: 4, maxSize: 2048, maxUploadBytes: Infinity, presets: {} };
let current = null; // { id, source }
const shown = new Set(); // job ids already in the gallery

/** The slider is logarithmic: -1..1 maps to 0.1x..10x the preset's style weight. */
function strength() {
  return Number((10 ** Number(strengthInput.value)).toPrecision(3));
}

function showMessage(text) {
  message.textContent = text;
  message.hidden = !text;
}

function setThumbs(input, target) {
  for (const img of target.querySelectorAll("img")) URL.revokeObjectURL(img.src);
  target.replaceChildren(
    ...[...input.files].map((file) => {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      return img;
    }),
  );
}

function makeDropZone(zone, input, thumbs, multiple) {
  input.addEventListener("change", () => setThumbs(input, thumbs));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...event.dataTransfer.files].filter((f) => f.type.startsWith("image/") || f.type === "");
    if (files.length === 0) return;
    const transfer = new DataTransfer();
    for (const file of multiple ? files : files.slice(0, 1)) transfer.items.add(file);
    input.files = transfer.files;
    setThumbs(input, thumbs);
  });
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * Evaluations count across all scales (an image evaluated in windows adds its windows done); L-BFGS
 * may stop an iteration early, so this can end below 1.
 */
function fraction(p) {
  const done = p.evaluation + (p.windows ? p.windows.done / p.windows.total : 0);
  return p.evaluations > 0 ? Math.min(1, done / p.evaluations) : 0;
}

function showStatus(status) {
  if (status.state === "queued") {
    const ahead = status.position - 1;
    stateText.textContent =
      ahead === 0 ? "Waiting in the queue: next to start" : `Waiting in the queue: position ${status.position} (${ahead} ahead)`;
  } else if (status.state === "running") {
    stateText.textContent = status.cancelRequested ? "Cancelling…" : "Painting…";
  }
  cancelButton.disabled = status.state !== "queued" && status.state !== "running";
}

function showProgress(p) {
  progressBar.value = fraction(p);
  const scale = p.scales > 1 ? `scale ${p.scale + 1}/${p.scales}, ` : "";
  const windows = p.windows ? `, window ${p.windows.done}/${p.windows.total}` : "";
  const loss = Number.isFinite(p.loss) ? `, loss ${p.loss.toPrecision(4)}` : "";
  stateText.textContent = `Painting… ${scale}evaluation ${p.evaluation}/${p.evaluations}${windows}${loss}`;
  const left = formatDuration(p.etaS);
  etaText.textContent = left ? `about ${left} left` : "";
}

function addNotice(text) {
  const item = document.createElement("li");
  item.textContent = text;
  notices.append(item);
}

function addToGallery(status) {
  if (shown.has(status.id) || !status.resultUrl) return;
  shown.add(status.id);
  $("gallery-empty").hidden = true;
  const item = document.createElement("li");
  const img = document.createElement("img");
  img.src = status.resultUrl;
  img.alt = `Result of job ${status.id}`;
  const link = document.createElement("a");
  link.href = status.resultUrl;
  link.download = `pastiche-${status.id.slice(0, 8)}.png`;
  const r = status.result;
  link.textContent = `${r.width}×${r.height}, ${status.request.preset}, ${status.request.strength}× — download`;
  item.append(img, link);
  gallery.prepend(item);
}

function finish(status) {
  current?.source.close();
  current = null;
  startButton.disabled = false;
  cancelButton.disabled = true;
  etaText.textContent = "";
  if (status.state === "done") {
    progressBar.value = 1;
    const r = status.result;
    stateText.textContent = `Done: ${r.width}×${r.height} in ${formatDuration(r.seconds)}, final loss ${r.finalLoss.toPrecision(4)}`;
    preview.src = status.resultUrl;
    download.href = status.resultUrl;
    download.download = `pastiche-${status.id.slice(0, 8)}.png`;
    download.hidden = false;
    addToGallery(status);
  } else if (status.state === "cancelled") {
    stateText.textContent = "Cancelled";
  } else {
    stateText.textContent = "Failed";
    showMessage(status.error?.message ?? "The job failed");
  }
}

function follow(id) {
  const source = new EventSource(`/api/jobs/${id}/events`);
  current = { id, source };
  const data = (event) => JSON.parse(event.data);
  source.addEventListener("status", (e) => showStatus(data(e)));
  source.addEventListener("progress", (e) => showProgress(data(e)));
  source.addEventListener("preview", (e) => {
    const { url } = data(e);
    if (url) preview.src = url;
  });
  source.addEventListener("notice", (e) => addNotice(data(e)));
  source.addEventListener("download", (e) => {
    const { received, total } = data(e);
    const percent = total > 0 ? ` ${Math.floor((100 * received) / total)}%` : "";
    stateText.textContent = `Downloading the network's weights (first run only)…${percent}`;
  });
  source.addEventListener("done", (e) => finish(data(e)));
  source.addEventListener("failed", (e) => finish(data(e)));
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error?.message ?? `The server answered ${response.status}`;
  } catch {
    return `The server answered ${response.status} ${response.statusText}`;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showMessage("");
  const content = contentInput.files[0];
  const styles = [...stylesInput.files];
  if (!content) return showMessage("Choose a content image first.");
  if (styles.length === 0) return showMessage("Choose at least one style image.");
  if (styles.length > config.maxStyles) return showMessage(`Choose at most ${config.maxStyles} style images.`);
  const tooBig = [content, ...styles].find((f) => f.size > config.maxUploadBytes);
  if (tooBig) return showMessage(`"${tooBig.name}" is too large to upload; the limit is ${Math.floor(config.maxUploadBytes / 2 ** 20)} MiB per file.`);

  const body = new FormData();
  body.append("content", content);
  for (const style of styles) body.append("style", style);
  body.append("preset", presetSelect.value);
  body.append("size", sizeInput.value);
  body.append("strength", String(strength()));
  if ($("iterations").value) body.append("iterations", $("iterations").value);
  if ($("evals").value) body.append("evalsPerIteration", $("evals").value);

  startButton.disabled = true;
  let response;
  try {
    response = await fetch("/api/jobs", { method: "POST", body });
  } catch {
    startButton.disabled = false;
    return showMessage("Could not reach the server. Is it still running?");
  }
  if (response.status !== 202) {
    startButton.disabled = false;
    return showMessage(await errorText(response));
  }
  const { id, status } = await response.json();
  run.hidden = false;
  download.hidden = true;
  preview.removeAttribute("src");
  notices.replaceChildren();
  progressBar.value = 0;
  etaText.textContent = "";
  showStatus(status);
  follow(id);
});

cancelButton.addEventListener("click", async () => {
  if (!current) return;
  cancelButton.disabled = true;
  const response = await fetch(`/api/jobs/${current.id}`, { method: "DELETE" });
  if (!response.ok) showMessage(await errorText(response));
});

strengthInput.addEventListener("input", () => {
  strengthValue.textContent = `${strength()}×`;
});

presetSelect.addEventListener("change", () => {
  const preset = config.presets[presetSelect.value];
  if (preset) sizeInput.value = String(preset.size);
});

makeDropZone($("content-drop"), contentInput, $("content-thumbs"), false);
makeDropZone($("style-drop"), stylesInput, $("style-thumbs"), true);

async function start() {
  const response = await fetch("/api/config");
  if (response.ok) {
    config = await response.json();
    $("max-styles").textContent = String(config.maxStyles);
    // The presets and the limits come from the server, which has them from the option schema.
    presetSelect.replaceChildren(
      ...Object.entries(config.presets).map(([name, p]) => new Option(`${name}: ${p.description}`, name, false, name === config.defaultPreset)),
    );
    sizeInput.min = String(config.minSize);
    sizeInput.max = String(config.maxSize);
    $("iterations").max = String(config.maxIterations);
    $("evals").max = String(config.maxEvalsPerIteration);
    const preset = config.presets[presetSelect.value];
    if (preset) sizeInput.value = String(preset.size);
  }
  // Results of earlier jobs on this server, newest first.
  const jobs = await fetch("/api/jobs").then((r) => (r.ok ? r.json() : { jobs: [] }));
  for (const job of jobs.jobs.filter((j) => j.state === "done")) addToGallery(job);
}

start()
  .catch(() => showMessage("Could not reach the server. Is it still running?"))
  // Lets automated tests know the settings above are in place before they change them.
  .finally(() => (document.body.dataset.ready = "true"));
