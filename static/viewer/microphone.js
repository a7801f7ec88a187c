// The viewer's microphone (docs/microphone.md): off until the user turns it on in the toolbar;
// then getUserMedia (the browser asks for permission), an AudioContext at 48 kHz and an
// AudioWorklet that hands 20 ms of 16-bit mono PCM at a time to `send` (a `microphone`
// message of the viewer protocol). Chunks are dropped, never queued, while the socket is
// not open or has more than MAX_BUFFERED bytes waiting, so a slow link costs audio, not delay.

const RATE = 48000;
const MAX_BUFFERED = 256 * 1024;

export class Microphone {
  /**
   * @param {(pcm: Uint8Array) => void} send  sends one chunk
   * @param {() => number} buffered  bytes the socket has not sent yet (Infinity: closed)
   * @param {(state: string, detail?: string) => void} changed  "off", "starting", "on", "denied", "unavailable"
   */
  constructor(send, buffered, changed) {
    this.send = send;
    this.buffered = buffered;
    this.changed = changed;
    this.state = "off";
    this.stream = null;
    this.context = null;
    this.stats = { chunks: 0, dropped: 0 };
  }

  get on() {
    return this.state === "on" || this.state === "starting";
  }

  async toggle() {
    if (this.on) this.stop();
    else await this.start();
  }

  async start() {
    if (this.on) return;
    if (!navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === "undefined") {
      this.set("unavailable", "this browser cannot capture audio here (it needs HTTPS or localhost)");
      return;
    }
    this.set("starting");
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      if (this.state !== "starting") { // turned off while the browser asked
        stream.getTracks().forEach((t) => t.stop());
        return;
      }
      this.stream = stream;
      this.context = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
      await this.context.audioWorklet.addModule(new URL("./microphone-worklet.js", import.meta.url));
      const source = this.context.createMediaStreamSource(this.stream);
      const capture = new AudioWorkletNode(this.context, "wrd-microphone-capture", { numberOfOutputs: 1 });
      capture.port.onmessage = (e) => this.chunk(new Uint8Array(e.data));
      source.connect(capture);
      // The node outputs silence; connected so the graph keeps pulling it.
      capture.connect(this.context.destination);
      await this.context.resume();
      if (this.state === "starting") this.set("on");
    } catch (e) {
      this.release();
      this.set(e && e.name === "NotAllowedError" ? "denied" : "unavailable", String(e && e.message || e));
    }
  }

  stop() {
    this.release();
    this.set("off");
  }

  release() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.context?.close().catch(() => {});
    this.context = null;
  }

  chunk(pcm) {
    if (this.state !== "on") return;
    if (this.buffered() > MAX_BUFFERED) {
      this.stats.dropped++;
      return;
    }
    this.stats.chunks++;
    this.send(pcm);
  }

  set(state, detail = "") {
    this.state = state;
    this.changed(state, detail);
  }
}

/**
 * The toolbar's microphone button for a viewer (static/viewer/viewer.js): the toggle, its
 * pressed state and title, and `#wrd-viewer[data-microphone]` (the state, for styles and tests).
 */
export function attachMicrophone(viewer, button) {
  const labels = {
    off: "Microphone off: click to send this computer's microphone to the desktop",
    starting: "Microphone: waiting for the browser's permission",
    on: "Microphone on: the desktop hears this computer's microphone; click to stop",
    denied: "Microphone: the browser refused access",
    unavailable: "Microphone: not available",
  };
  const mic = new Microphone(
    (pcm) => viewer.sendOp({ op: "microphone" }, pcm),
    () => (viewer.ws && viewer.ws.readyState === WebSocket.OPEN ? viewer.ws.bufferedAmount : Infinity),
    (state, detail) => {
      viewer.root.dataset.microphone = state;
      button.setAttribute("aria-pressed", String(state === "on" || state === "starting"));
      button.title = detail ? `${labels[state]} (${detail})` : labels[state];
    },
  );
  mic.set("off");
  button.addEventListener("click", () => mic.toggle());
  return mic;
}
