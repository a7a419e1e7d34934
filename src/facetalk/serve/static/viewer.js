// facetalk's browser viewer: the default face (GLB, 52 morph targets) driven by the server.
// A file or the example goes through POST /v1/animate and plays in sync with its audio; the
// microphone streams 16 kHz PCM over WebSocket /v1/stream and shows frames as they arrive.
// URL parameters: api_key=KEY (when the server needs one); example=1&frame=N shows frame N of the
// example, still (for screenshots); the page sets data-ready="1" on <body> once that frame is drawn;
// live=1 streams the example over the WebSocket at once (data-live-frames, data-live-done on <body>);
// mic=1 starts the microphone at once (data-mic="on" once it streams; data-live-jaw the largest jawOpen
// received, the test's sign that the face moved).
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";

const params = new URLSearchParams(location.search);
const keyQuery = params.get("api_key") ? `?api_key=${encodeURIComponent(params.get("api_key"))}` : "";
const statusLine = document.getElementById("status");
const errors = [];
window.addEventListener("error", (e) => errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => errors.push(String(e.reason)));

const CURVES = ["jawOpen", "mouthClose", "mouthFunnel", "mouthSmileLeft", "browInnerUp"];
const CURVE_COLORS = ["#ff6b6b", "#4dabf7", "#ffd43b", "#69db7c", "#da77f2"];
const CURVE_FRAMES = 180; // 6 s at 30 fps
const TARGET_RATE = 16000;

const canvas = document.getElementById("face");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setSize(canvas.width, canvas.height, false);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x2a2d33);
const camera = new THREE.PerspectiveCamera(25, canvas.width / canvas.height, 0.01, 10);
scene.add(new THREE.HemisphereLight(0xffffff, 0x404040, 1.6));
const key = new THREE.DirectionalLight(0xffffff, 1.8);
key.position.set(0.3, 0.4, 1.0);
scene.add(key);

let meshes = [];
let animation = null; // {fps, frames, start (AudioContext time) or null}
let audio = null;
const history = [];

function setStatus(text) {
  statusLine.textContent = text;
}

function apply(weights) {
  for (const mesh of meshes) {
    for (const [name, index] of Object.entries(mesh.morphTargetDictionary)) {
      mesh.morphTargetInfluences[index] = weights[name] ?? 0;
    }
  }
  history.push(CURVES.map((name) => weights[name] ?? 0));
  if (history.length > CURVE_FRAMES) history.shift();
}

function drawCurves() {
  const plot = document.getElementById("curves");
  const g = plot.getContext("2d");
  g.clearRect(0, 0, plot.width, plot.height);
  CURVES.forEach((_, c) => {
    g.strokeStyle = CURVE_COLORS[c];
    g.beginPath();
    history.forEach((row, i) => {
      const x = (i / (CURVE_FRAMES - 1)) * plot.width;
      const y = plot.height - 4 - row[c] * (plot.height - 8);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  });
}

async function loadFace() {
  const gltf = await new GLTFLoader().loadAsync("/v1/face.glb");
  scene.add(gltf.scene);
  gltf.scene.traverse((node) => {
    if (node.isMesh && node.morphTargetDictionary) meshes.push(node);
  });
  const box = new THREE.Box3().setFromObject(gltf.scene);
  const centre = box.getCenter(new THREE.Vector3());
  const size = box.getSize(new THREE.Vector3());
  const distance = (Math.max(size.x, size.y) * 0.62) / Math.tan(THREE.MathUtils.degToRad(camera.fov / 2));
  camera.position.set(centre.x, centre.y, centre.z + size.z / 2 + distance);
  camera.lookAt(centre);
  const targets = meshes.length ? Object.keys(meshes[0].morphTargetDictionary).length : 0;
  setStatus(`face loaded: ${targets} morph targets`);
}

function formFor(blob) {
  const form = new FormData();
  form.append("audio", blob, "speech.wav");
  form.append("format", "json");
  const emotion = emotionOption();
  if (emotion) form.append("emotion", emotion);
  const persona = document.getElementById("persona").value.trim();
  if (persona) form.append("persona", persona);
  return form;
}

function emotionOption() {
  const category = document.getElementById("emotion").value;
  return category ? `${category}:${document.getElementById("intensity").value}` : "";
}

async function animateBlob(blob, { play = true } = {}) {
  setStatus("animating…");
  const response = await fetch(`/v1/animate${keyQuery}`, { method: "POST", body: formFor(blob) });
  const body = await response.json();
  if (!response.ok) {
    setStatus(`error ${response.status}: ${body.error}`);
    return null;
  }
  animation = { fps: body.fps, frames: body.frames, start: null };
  setStatus(`${body.frames.length} frames at ${body.fps} fps`);
  if (play) {
    audio = audio || new AudioContext();
    const buffer = await audio.decodeAudioData(await blob.arrayBuffer());
    const source = audio.createBufferSource();
    source.buffer = buffer;
    source.connect(audio.destination);
    animation.start = audio.currentTime + 0.05;
    source.start(animation.start);
  }
  return animation;
}

async function exampleBlob() {
  return await (await fetch("/v1/example.wav")).blob();
}

function render() {
  if (animation && animation.start !== null && audio) {
    const index = Math.floor((audio.currentTime - animation.start) * animation.fps);
    if (index >= 0 && index < animation.frames.length) apply(animation.frames[index].weights);
    if (index >= animation.frames.length) animation.start = null;
  }
  drawCurves();
  renderer.render(scene, camera);
  requestAnimationFrame(render);
}

// --- live streams over WebSocket /v1/stream: the microphone, or a file sent as 16 kHz PCM ---
let live = null;

function toPcm(samples) {
  return new Int16Array(Array.from(samples, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767)))));
}

function openStream(what) {
  // resolves with the open socket; frames are applied as they arrive, counted in data-live-frames
  const protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${protocol}//${location.host}/v1/stream${keyQuery}`);
  const persona = document.getElementById("persona").value.trim();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.error) setStatus(`error ${message.status}: ${message.error}`);
    if (message.done) {
      setStatus(`${what}: ${message.frames} frames streamed`);
      document.body.dataset.liveDone = String(message.frames);
    }
    for (const frame of message.frames || []) {
      apply(frame.weights);
      document.body.dataset.liveJaw = String(Math.max(Number(document.body.dataset.liveJaw || 0), frame.weights.jawOpen ?? 0));
    }
    document.body.dataset.liveFrames = String(Number(document.body.dataset.liveFrames || 0) + (message.frames || []).length);
  };
  return new Promise((resolve, reject) => {
    socket.onerror = () => reject(new Error("the WebSocket failed"));
    socket.onopen = () => {
      socket.send(JSON.stringify({ sample_rate: TARGET_RATE, emotion: emotionOption() || null, persona: persona || null }));
      setStatus(`streaming ${what}`);
      resolve(socket);
    };
  });
}

function wav16k(buffer) {
  // the samples of a 16 kHz mono 16-bit WAV file, or null for anything else
  const view = new DataView(buffer);
  if (view.byteLength < 12 || view.getUint32(0, false) !== 0x52494646 || view.getUint32(8, false) !== 0x57415645) return null;
  let format = null;
  for (let at = 12; at + 8 <= view.byteLength; at += 8 + view.getUint32(at + 4, true) + (view.getUint32(at + 4, true) % 2)) {
    const id = view.getUint32(at, false);
    const size = view.getUint32(at + 4, true);
    if (id === 0x666d7420) format = { tag: view.getUint16(at + 8, true), channels: view.getUint16(at + 10, true), rate: view.getUint32(at + 12, true), bits: view.getUint16(at + 22, true) };
    if (id === 0x64617461 && format && format.tag === 1 && format.channels === 1 && format.rate === TARGET_RATE && format.bits === 16) {
      const pcm = new Int16Array(buffer.slice(at + 8, at + 8 + Math.min(size, view.byteLength - at - 8)));
      return Float32Array.from(pcm, (v) => v / 32768);
    }
  }
  return null;
}

async function samples16k(blob) {
  // 16 kHz mono samples of an audio file: read directly from a 16 kHz WAV, else decoded and resampled by Web Audio
  const buffer = await blob.arrayBuffer();
  const direct = wav16k(buffer);
  if (direct) return direct;
  audio = audio || new AudioContext();
  const decoded = await audio.decodeAudioData(buffer);
  const offline = new OfflineAudioContext(1, Math.ceil(decoded.duration * TARGET_RATE), TARGET_RATE);
  const source = offline.createBufferSource();
  source.buffer = decoded;
  source.connect(offline.destination);
  source.start();
  return (await offline.startRendering()).getChannelData(0);
}

async function streamBlob(blob) {
  // the file as 16 kHz mono, sent in 20 ms chunks over the WebSocket, as a live source would
  const samples = await samples16k(blob);
  const socket = await openStream("the example");
  const chunk = TARGET_RATE / 50;
  for (let i = 0; i < samples.length; i += chunk) socket.send(toPcm(samples.subarray(i, i + chunk)).buffer);
  socket.send(JSON.stringify({ end: true }));
}

async function startMicrophone() {
  // the voice as it is: gain control would lift the room's noise in pauses into mouth movement
  const raw = { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  const media = await navigator.mediaDevices.getUserMedia({ audio: raw });
  const context = new AudioContext();
  await context.resume(); // started from a click it runs anyway; started by mic=1 it may begin suspended
  const source = context.createMediaStreamSource(media);
  const processor = context.createScriptProcessor(1024, 1, 1);
  const socket = await openStream("the microphone");
  socket.onclose = () => stopMicrophone();
  let position = 0; // fractional read position for resampling to 16 kHz
  processor.onaudioprocess = (event) => {
    const input = event.inputBuffer.getChannelData(0);
    const step = context.sampleRate / TARGET_RATE;
    const out = [];
    for (; position < input.length; position += step) {
      const i = Math.floor(position);
      const next = Math.min(i + 1, input.length - 1);
      const value = input[i] + (input[next] - input[i]) * (position - i);
      out.push(value);
    }
    position -= input.length;
    if (socket.readyState === WebSocket.OPEN) socket.send(toPcm(out).buffer);
  };
  const mute = context.createGain();
  mute.gain.value = 0;
  source.connect(processor);
  processor.connect(mute);
  mute.connect(context.destination);
  live = { media, context, socket };
  document.getElementById("mic").textContent = "Stop the microphone";
  document.body.dataset.mic = "on";
}

function stopMicrophone() {
  if (!live) return;
  const { media, context, socket } = live;
  live = null;
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ end: true }));
  media.getTracks().forEach((track) => track.stop());
  context.close();
  document.getElementById("mic").textContent = "Start the microphone";
}

function sendLive(change) {
  if (live && live.socket.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify(change));
}

// --- controls ---
document.getElementById("example").onclick = async () => animateBlob(await exampleBlob());
document.getElementById("live").onclick = async () => streamBlob(await exampleBlob()).catch((e) => setStatus(`${e}`));
document.getElementById("file").onchange = (event) => event.target.files[0] && animateBlob(event.target.files[0]);
const drop = document.getElementById("drop");
drop.ondragover = (event) => {
  event.preventDefault();
  drop.classList.add("over");
};
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files[0]) animateBlob(event.dataTransfer.files[0]);
};
document.getElementById("mic").onclick = () => (live ? stopMicrophone() : startMicrophone().catch((e) => setStatus(`microphone: ${e}`)));
for (const id of ["emotion", "intensity"]) {
  document.getElementById(id).onchange = () => sendLive({ emotion: emotionOption() || null });
}
document.getElementById("persona").onchange = (event) => sendLive({ persona: event.target.value.trim() || null });

async function fillPersonas() {
  const health = await (await fetch("/health")).json();
  const list = document.getElementById("personas");
  for (const name of health.personas || []) list.append(new Option(name, name));
}

async function main() {
  await loadFace();
  await fillPersonas();
  requestAnimationFrame(render);
  if (params.get("live")) await streamBlob(await exampleBlob());
  if (params.get("mic")) await startMicrophone();
  if (params.get("example") && params.get("frame") !== null) {
    const still = await animateBlob(await exampleBlob(), { play: false });
    const index = Number(params.get("frame"));
    if (still && index >= 0 && index < still.frames.length) apply(still.frames[index].weights);
    renderer.render(scene, camera);
    drawCurves();
    requestAnimationFrame(() => {
      document.body.dataset.errors = String(errors.length);
      document.body.dataset.ready = "1";
    });
  }
}

main().catch((error) => {
  errors.push(String(error));
  setStatus(`error: ${error}`);
});
