// The viewer's sound (docs/audio.md, docs/viewer-protocol.md *Audio*): the desktop's output,
// decoded with WebCodecs AudioDecoder (Opus, or AAC when the desktop already encodes AAC for an
// RDP client: one encode for both) or taken as PCM where AudioDecoder is missing, played by an
// AudioWorklet (audio-worklet.js) through a gain node (the toolbar's volume).
//
// Browsers only let a page start sound after a user gesture: nothing is asked of the server
// until the first pointer or key press on the page (and none while muted), so a muted or
// untouched viewer costs no audio bandwidth.

const RATE = 48000;
const CHANNELS = 2;
// Each server format and the WebCodecs codec that decodes it. AAC packets carry their ADTS
// header, so no description is needed (the WebCodecs AAC registration's ADTS case).
const DECODER_CONFIGS = {
  opus: { codec: "opus", sampleRate: RATE, numberOfChannels: CHANNELS },
  aac: { codec: "mp4a.40.2", sampleRate: RATE, numberOfChannels: CHANNELS },
};

/** What this browser decodes, best first: ["opus", "aac"] where WebCodecs decodes both; the
 * server is asked for the first and told it may give any of them. ["pcm"] without WebCodecs
 * (raw s16le: no decoder needed). */
export async function audioFormats() {
  const formats = [];
  for (const [format, config] of Object.entries(DECODER_CONFIGS)) {
    try {
      if (typeof AudioDecoder === "function" && (await AudioDecoder.isConfigSupported(config)).supported) {
        formats.push(format);
      }
    } catch { /* not this one */ }
  }
  return formats.length ? formats : ["pcm"];
}

export class AudioOut {
  /** ``bar``: the toolbar to put the controls in; ``send(header)``: a message to the server. */
  constructor(bar, send) {
    this.send = send;
    this.muted = localStorage.getItem("wrd.audio.muted") === "1";
    const stored = Number(localStorage.getItem("wrd.audio.volume") ?? "0.8");
    this.volume = Number.isFinite(stored) ? Math.min(1, Math.max(0, stored)) : 0.8;
    this.context = null;
    this.node = null;
    this.gain = null;
    this.decoder = null;
    this.decoderCodec = null;
    this.formats = ["pcm"]; // what this page decodes, best first (audioFormats)
    this.format = null; // confirmed by the server (audio_subscribed), then each packet's codec
    this.wanted = null; // what we asked for
    this.gesture = false;
    this.connected = false;
    this.captured = null; // [{left, right}] while a test captures
    this.stats = { packets: 0, decoded: 0, errors: 0, lastPts: 0 };
    this.controls(bar);
    const onGesture = () => this.userGesture();
    for (const type of ["pointerdown", "keydown"]) window.addEventListener(type, onGesture, { capture: true });
  }

  controls(bar) {
    const wrap = document.createElement("span");
    wrap.className = "wrd-audio";
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.dataset.action = "audio-mute";
    this.button.addEventListener("click", () => this.setMuted(!this.muted));
    this.slider = document.createElement("input");
    Object.assign(this.slider, { type: "range", min: "0", max: "1", step: "0.05", value: String(this.volume) });
    this.slider.dataset.action = "audio-volume";
    this.slider.setAttribute("aria-label", "Volume");
    this.slider.addEventListener("input", () => this.setVolume(Number(this.slider.value)));
    wrap.append(this.button, this.slider);
    const before = bar.querySelector("[data-action=clipboard]");
    bar.insertBefore(wrap, before);
    this.showState();
  }

  showState() {
    const state = this.muted ? "muted" : !this.gesture ? "waiting" : this.format ? "playing" : "starting";
    this.button.dataset.state = state;
    this.button.textContent = this.muted ? "Sound off" : "Sound on";
    this.button.title = {
      muted: "Sound is off: click to hear the desktop",
      waiting: "Sound starts at your first click or key press (the browser's autoplay rule)",
      playing: `Sound on (${this.format}): click to mute`,
      starting: "Sound starting…",
    }[state];
    this.button.setAttribute("aria-pressed", this.muted ? "true" : "false");
    this.slider.disabled = this.muted;
  }

  setMuted(muted) {
    this.muted = muted;
    localStorage.setItem("wrd.audio.muted", muted ? "1" : "0");
    if (!muted) this.userGesture(); // the click is a gesture
    this.sync();
  }

  setVolume(volume) {
    this.volume = volume;
    localStorage.setItem("wrd.audio.volume", String(volume));
    if (this.gain) this.gain.gain.setTargetAtTime(volume, this.context.currentTime, 0.02);
  }

  /** The first gesture: the AudioContext may start now. */
  async userGesture() {
    if (this.gesture) return;
    this.gesture = true;
    try {
      await this.ensureContext();
    } catch (e) {
      console.warn("wrd: no sound in this browser", e);
      this.failed = true;
    }
    this.sync();
  }

  async ensureContext() {
    if (this.context) {
      if (this.context.state === "suspended") await this.context.resume();
      return;
    }
    const ctx = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
    const url = new URL("./audio-worklet.js", import.meta.url);
    await ctx.audioWorklet.addModule(url);
    this.node = new AudioWorkletNode(ctx, "wrd-audio", { numberOfInputs: 0, outputChannelCount: [CHANNELS] });
    this.node.port.onmessage = (e) => { if (this.captured) this.captured.push(e.data); };
    this.gain = ctx.createGain();
    this.gain.gain.value = this.volume;
    this.node.connect(this.gain).connect(ctx.destination);
    this.context = ctx;
    if (ctx.state === "suspended") await ctx.resume();
    this.formats = await audioFormats();
    this.preferred = this.formats[0];
  }

  /** The socket is open (again): ask for sound if it should play. */
  connectedChanged(open) {
    this.connected = open;
    this.format = null;
    this.wanted = null;
    this.resetDecoder();
    if (open) this.sync();
    this.showState();
  }

  sync() {
    const want = this.connected && this.gesture && !this.muted && this.context && !this.failed ? this.preferred : null;
    if (want !== this.wanted && this.connected) {
      this.wanted = want;
      const accept = want && want !== "pcm" ? this.formats.filter((f) => f !== want && f !== "pcm") : [];
      this.send(accept.length ? { op: "audio", format: want, accept } : { op: "audio", format: want ?? "off" });
      if (!want) this.node?.port.postMessage({ flush: true });
    }
    this.showState();
  }

  // -- messages from the server -----------------------------------------------------------

  subscribed(header) {
    this.format = header.format || null;
    this.resetDecoder();
    this.showState();
  }

  packet(header, payload) {
    if (!this.format || !this.node) return;
    if (header.codec !== this.format) {
      // The server moved this page to another encode it said it decodes (an RDP client's AAC).
      if (this.wanted === "pcm" || !this.formats.includes(header.codec)) return;
      this.format = header.codec;
      this.showState();
    }
    this.stats.packets++;
    this.stats.lastPts = header.pts;
    if (header.codec === "pcm") {
      this.play(pcmToPlanar(payload));
      return;
    }
    if (this.decoder && this.decoderCodec !== header.codec) this.resetDecoder();
    if (!this.decoder) this.openDecoder(header.codec);
    try {
      this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: header.pts, data: payload }));
    } catch (e) {
      this.decodeError(e);
    }
  }

  openDecoder(codec) {
    this.decoder = new AudioDecoder({
      output: (data) => {
        try {
          const planes = [];
          for (let c = 0; c < CHANNELS; c++) {
            const plane = new Float32Array(data.numberOfFrames);
            data.copyTo(plane, { planeIndex: Math.min(c, data.numberOfChannels - 1), format: "f32-planar" });
            planes.push(plane);
          }
          this.stats.decoded += data.numberOfFrames;
          this.play({ left: planes[0], right: planes[1] });
        } finally {
          data.close();
        }
      },
      error: (e) => this.decodeError(e),
    });
    this.decoder.configure(DECODER_CONFIGS[codec]);
    this.decoderCodec = codec;
  }

  decodeError(e) {
    this.stats.errors++;
    console.warn("wrd: audio decoder failed, switching to PCM", e);
    this.resetDecoder();
    this.formats = ["pcm"];
    this.preferred = "pcm";
    this.wanted = null;
    this.sync();
  }

  resetDecoder() {
    if (this.decoder && this.decoder.state !== "closed") {
      try { this.decoder.close(); } catch { /* already closed */ }
    }
    this.decoder = null;
    this.decoderCodec = null;
  }

  play(planes) {
    this.node.port.postMessage(planes, [planes.left.buffer, planes.right.buffer]);
  }

  /** Tests: start keeping what the worklet plays; ``takeCaptured`` returns and clears it. */
  startCapture() {
    this.captured = [];
    this.node?.port.postMessage({ capture: true });
  }

  takeCaptured() {
    const blocks = this.captured || [];
    this.captured = [];
    const n = blocks.reduce((s, b) => s + b.left.length, 0);
    const left = new Float32Array(n);
    let at = 0;
    for (const b of blocks) { left.set(b.left, at); at += b.left.length; }
    return left;
  }
}

/** s16le interleaved stereo → two Float32 planes. */
export function pcmToPlanar(payload) {
  const samples = new Int16Array(payload.buffer.slice(payload.byteOffset, payload.byteOffset + (payload.byteLength & ~3)));
  const n = samples.length / 2;
  const left = new Float32Array(n), right = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    left[i] = samples[2 * i] / 32768;
    right[i] = samples[2 * i + 1] / 32768;
  }
  return { left, right };
}
