// The demo page: sends images and decoding settings to POST /api/caption and shows every
// model's captions side by side. Plain JavaScript, no external resources.
"use strict";

const state = { files: [], maxUploadMb: 10 };
const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

function showSettings() {
  const method = $("decoding").value;
  document.querySelectorAll(".beam-only").forEach((n) => n.classList.toggle("hidden", method !== "beam"));
  document.querySelectorAll(".sample-only").forEach((n) => n.classList.toggle("hidden", method !== "top_p"));
  document.querySelectorAll(".many-only").forEach((n) => n.classList.toggle("hidden", method === "greedy"));
}

function settingsForm() {
  const form = new FormData();
  const method = $("decoding").value;
  form.append("decoding", method);
  if (method === "beam") form.append("beam_size", $("beam_size").value);
  if (method === "top_p") {
    for (const name of ["top_p", "temperature", "seed"]) form.append(name, $(name).value);
  }
  if (method !== "greedy") form.append("num_captions", $("num_captions").value);
  return form;
}

function formatScore(score) {
  return score === null ? "n/a" : score.toFixed(3);
}

function renderResults(files, body) {
  const results = $("results");
  results.textContent = "";
  (body.images || []).forEach((image, index) => {
    const card = element("div", "card");
    card.dataset.image = String(index);
    const thumb = element("img");
    thumb.alt = image.name;
    thumb.src = URL.createObjectURL(files[index]);
    card.appendChild(thumb);
    const right = element("div");
    right.appendChild(element("div", "name", image.name));
    if (image.error) {
      right.appendChild(element("div", "image-error", image.error));
    } else {
      const models = element("div", "models");
      for (const entry of body.results.filter((r) => r.image === index)) {
        const box = element("div", "model");
        box.dataset.model = entry.model;
        box.appendChild(element("h3", null, entry.model));
        const list = element("ol");
        entry.captions.forEach((caption, k) => {
          const item = element("li");
          const text = element("span", "caption", caption);
          text.dataset.model = entry.model;
          text.dataset.image = String(index);
          item.appendChild(text);
          item.appendChild(element("div", "meta", "score " + formatScore(entry.scores[k])));
          list.appendChild(item);
        });
        box.appendChild(list);
        box.appendChild(element("div", "meta", Math.round(entry.timing_ms) + " ms"));
        models.appendChild(box);
      }
      right.appendChild(models);
    }
    card.appendChild(right);
    results.appendChild(card);
  });
}

async function caption(files) {
  if (!files.length) return;
  state.files = files;
  $("caption-again").disabled = false;
  const total = files.reduce((sum, f) => sum + f.size, 0);
  if (total > state.maxUploadMb * 1048576) {
    setStatus(`The images are ${(total / 1048576).toFixed(1)} MB, over the ${state.maxUploadMb} MB limit.`, true);
    return;
  }
  const form = settingsForm();
  files.forEach((file) => form.append("image", file, file.name));
  setStatus(`Captioning ${files.length} image${files.length > 1 ? "s" : ""}…`);
  let response, body;
  try {
    response = await fetch("/api/caption", { method: "POST", body: form });
    body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  } catch (error) {
    setStatus("The server did not answer: " + error, true);
    return;
  }
  if (body.images) renderResults(files, body);
  if (!response.ok) {
    setStatus(body.error || `${response.status} ${response.statusText}`, true);
  } else {
    setStatus(`Done in ${Math.round(body.timing_ms)} ms.`);
  }
}

async function addExample(url) {
  const response = await fetch(url);
  const blob = await response.blob();
  const name = url.split("/").pop();
  caption([new File([blob], name, { type: blob.type })]);
}

async function start() {
  showSettings();
  $("decoding").addEventListener("change", showSettings);
  $("file-input").addEventListener("change", (event) => {
    caption(Array.from(event.target.files));
    event.target.value = "";
  });
  $("settings").addEventListener("submit", (event) => {
    event.preventDefault();
    caption(state.files);
  });
  const zone = $("drop-zone");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    caption(Array.from(event.dataTransfer.files));
  });
  try {
    const info = await (await fetch("/api/models")).json();
    state.maxUploadMb = info.max_upload_mb;
    $("max-upload").textContent = String(info.max_upload_mb);
    $("model-list").textContent = info.models.map((m) => `${m.name} (${m.model_type})`).join(", ");
    for (const url of info.examples) {
      const img = element("img");
      img.src = url;
      img.alt = img.title = url.split("/").pop();
      img.addEventListener("click", () => addExample(url));
      $("examples").appendChild(img);
    }
    document.body.dataset.ready = "true";
  } catch (error) {
    setStatus("Could not load the model list: " + error, true);
  }
}

start();
