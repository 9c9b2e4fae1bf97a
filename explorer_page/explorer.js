'use strict';
// The explorer page: one slider per latent dim; the decoded image follows the sliders.
// Requests are debounced, and an answer older than the one on screen is never shown. A quantized model's
// sliders step through each dim's learnt values (info.values) instead of spanning a range.

const DEBOUNCE_MS = 30;          // wait this long after the last slider move before asking for a decode
const SWEEP_VALUES = 31;         // frames of a sweep over [-3, 3]
const SLIDER_LIMIT = 4;          // sliders span [-4, 4]; the server accepts up to its own z_limit

const state = {
  info: null,       // /api/dims
  base: [],         // the start point
  z: [],            // the current z
  chosen: null,     // the dim the sweep animates: the last slider touched
  sent: 0,          // id of the newest decode request
  shown: 0,         // id of the request whose answer is on screen
  timer: null,
  sweeping: false,
  imageUrl: null,
};

const $ = (id) => document.getElementById(id);

function describeDim(dim) {
  const info = state.info;
  const kl = info.kl ? ' · ' + info.information + ' ' + info.kl[dim].toFixed(2) : '';
  const name = info.names[String(dim)] ? ' · ' + info.names[String(dim)].split(' ~ ').pop() : '';
  return 'dim ' + dim + kl + name;
}

function sliderRow(dim) {
  const row = document.createElement('div');
  row.className = 'dim';
  row.id = 'dim-' + dim;
  const label = document.createElement('label');
  label.textContent = describeDim(dim);
  label.htmlFor = 'slider-' + dim;
  const slider = document.createElement('input');
  const values = state.info.values;
  const range = values ? {min: 0, max: values[dim].length - 1, step: 1}
                       : {min: -SLIDER_LIMIT, max: SLIDER_LIMIT, step: 0.01};
  Object.assign(slider, range, {type: 'range', id: 'slider-' + dim});
  slider.dataset.dim = dim;
  const value = document.createElement('output');
  value.id = 'value-' + dim;
  slider.addEventListener('input', () => {
    state.z[dim] = values ? values[dim][Number(slider.value)] : Number(slider.value);
    value.textContent = state.z[dim].toFixed(2);
    choose(dim);
    scheduleDecode();
  });
  row.append(label, slider, value);
  return row;
}

function choose(dim) {
  if (state.chosen !== null) $('dim-' + state.chosen).classList.remove('chosen');
  state.chosen = dim;
  $('dim-' + dim).classList.add('chosen');
}

function nearestIndex(values, v) {
  let best = 0;
  values.forEach((value, i) => { if (Math.abs(value - v) < Math.abs(values[best] - v)) best = i; });
  return best;
}

function sliderPosition(dim, v) {
  const values = state.info.values;
  return values ? nearestIndex(values[dim], v) : Math.max(-SLIDER_LIMIT, Math.min(SLIDER_LIMIT, v));
}

function showZ() {
  state.z.forEach((v, dim) => {
    $('slider-' + dim).value = sliderPosition(dim, v);
    $('value-' + dim).textContent = v.toFixed(2);
  });
}

function scheduleDecode() {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => decode(state.z.slice()), DEBOUNCE_MS);
}

async function decode(z) {
  const id = ++state.sent;
  const response = await fetch('/api/decode', {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({z: z}),
  });
  if (!response.ok) {
    $('status').textContent = (await response.json()).error;
    return;
  }
  const blob = await response.blob();
  if (id <= state.shown) return;            // a newer answer is already on screen
  state.shown = id;
  $('status').textContent = '';
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.imageUrl = URL.createObjectURL(blob);
  const img = $('decoded');
  img.src = state.imageUrl;
  img.dataset.z = JSON.stringify(z);
  $('download-image').href = state.imageUrl;
  const json = JSON.stringify({z: z, checkpoint_step: state.info.step, dataset: state.info.dataset}, null, 1);
  $('download-z').href = 'data:application/json;charset=utf-8,' + encodeURIComponent(json);
}

function randomNormal() {
  const u = 1 - Math.random(), v = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

// A draw from the prior for one dim: N(0, 1), or one of a quantized dim's values, uniformly.
function priorDraw(dim) {
  const values = state.info.values;
  return values ? values[dim][Math.floor(Math.random() * values[dim].length)] : randomNormal();
}

// The values a sweep steps through: SWEEP_VALUES over [-3, 3], or a quantized dim's values in order.
function sweepValues(dim) {
  const values = state.info.values;
  if (values) return values[dim];
  return Array.from({length: SWEEP_VALUES}, (_, i) => -3 + 6 * i / (SWEEP_VALUES - 1));
}

async function setStart(choice) {
  const [kind, index] = choice.split(':');
  $('original-figure').hidden = kind !== 'heldout';
  if (kind === 'seed') {
    state.base = state.info.seeds[Number(index)].slice();
  } else if (kind === 'prior') {
    state.base = state.z.map((_, dim) => priorDraw(dim));
  } else {
    const response = await fetch('/api/heldout?index=' + index);
    const answer = await response.json();
    if (!response.ok) { $('status').textContent = answer.error; return; }
    state.base = answer.z;
    $('original').src = answer.image;
  }
  state.z = state.base.slice();
  showZ();
  decode(state.z.slice());
}

async function sweep() {
  if (state.sweeping || state.chosen === null) return;
  state.sweeping = true;
  const dim = state.chosen, kept = state.z[dim];
  for (const value of sweepValues(dim)) {
    state.z[dim] = value;
    showZ();
    await decode(state.z.slice());
  }
  state.z[dim] = kept;
  showZ();
  await decode(state.z.slice());
  state.sweeping = false;
}

async function start() {
  state.info = await (await fetch('/api/dims')).json();
  const info = state.info;
  state.z = new Array(info.latent_dim).fill(0);
  const inactive = info.order.filter((dim) => !info.active.includes(dim));
  info.active.forEach((dim) => $('sliders').append(sliderRow(dim)));
  inactive.forEach((dim) => $('inactive').append(sliderRow(dim)));
  if (inactive.length) {
    $('inactive-box').hidden = false;
    $('inactive-summary').textContent = inactive.length + ' inactive dims (' + info.information + ' < ' + info.inactive_kl + ' nats)';
  }
  const options = info.seeds.map((_, k) => ['seed:' + k, 'traversal seed ' + (k + 1)]);
  options.push(['prior:', 'a random draw from the prior']);
  for (let k = 0; k < info.held_out; k++) options.push(['heldout:' + k, 'held-out image ' + k]);
  for (const [value, text] of options) $('start').append(new Option(text, value));
  $('start').addEventListener('change', () => setStart($('start').value));
  $('sweep').addEventListener('click', sweep);
  $('reset').addEventListener('click', () => { state.z = state.base.slice(); showZ(); decode(state.z.slice()); });
  $('about').textContent = info.dataset + ' model at step ' + info.step + ', ' + info.latent_dim + ' latent dims, ' +
      info.active.length + ' active';
  choose(info.order[0]);
  await setStart($('start').value);
}

start();
