// The live flow stream (GET /api/v1/flows/stream, server-sent events). EventSource
// cannot send an Authorization header and the server reads the token only from it,
// so this reads the event stream with fetch and a ReadableStream reader.
import type { Api } from "./client";
import type { FlowDocument } from "./types";

export interface StreamHandlers {
  onFlows(flows: FlowDocument[]): void;
  onLost(count: number): void;
  onState(state: "connecting" | "open" | "closed" | "error", detail?: string): void;
}

/** Opens the stream; returns a function that closes it. Events are handed over in
 * batches (one per network chunk), so thousands of flows per second cost one call each. */
export function openFlowStream(api: Api, filters: object[], handlers: StreamHandlers): () => void {
  const abort = new AbortController();
  const url = api.url("/api/v1/flows/stream", {}, { filter: filters.map((f) => JSON.stringify(f)) });
  handlers.onState("connecting");
  void (async () => {
    try {
      const response = await api.response("get", url, {
        headers: api.headers({ Accept: "text/event-stream" }),
        signal: abort.signal,
      });
      if (!response.body) throw new Error("the stream has no body");
      handlers.onState("open");
      await read(response.body, handlers);
      handlers.onState("closed");
    } catch (error) {
      if (abort.signal.aborted) return;
      handlers.onState("error", error instanceof Error ? error.message : String(error));
    }
  })();
  return () => abort.abort();
}

async function read(body: ReadableStream<Uint8Array>, handlers: StreamHandlers): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    pending += decoder.decode(value, { stream: true });
    const end = pending.lastIndexOf("\n\n");
    if (end < 0) continue;
    const complete = pending.slice(0, end);
    pending = pending.slice(end + 2);
    dispatch(complete, handlers);
  }
}

function dispatch(text: string, handlers: StreamHandlers): void {
  const flows: FlowDocument[] = [];
  for (const block of text.split("\n\n")) {
    let event = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (!data) continue;
    if (event === "flow") flows.push(JSON.parse(data) as FlowDocument);
    else if (event === "lost") handlers.onLost((JSON.parse(data) as { lost: number }).lost);
  }
  if (flows.length) handlers.onFlows(flows);
}
