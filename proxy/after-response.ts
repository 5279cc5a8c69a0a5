import type { AfterResponse } from '../policies/decision.ts';

export type ResponseWatch = {
  headers(status: number, headers: Record<string, string | string[] | undefined>): void;
  data(chunk: Buffer): void;
  done(): void;
};

// Hands the app's answer to the policies that asked to see it: its headers
// before they go out, then its status and the first bytes of its body once
// the exchange is over. A policy's failure here never breaks the response.
export function watchResponse(after: readonly AfterResponse[]): ResponseWatch | undefined {
  if (after.length === 0) return undefined;
  const keepBytes = Math.max(0, ...after.map((entry) => entry.bodyBytes ?? 0));
  const chunks: Buffer[] = [];
  let kept = 0;
  let status = 0;
  let finished = false;

  return {
    headers(statusCode, headers) {
      status = statusCode;
      for (const entry of after) safely(() => entry.headers?.(statusCode, headers));
    },
    data(chunk) {
      if (kept >= keepBytes) return;
      const part = chunk.subarray(0, keepBytes - kept);
      chunks.push(part);
      kept += part.length;
    },
    done() {
      if (finished) return;
      finished = true;
      const body = Buffer.concat(chunks, kept);
      // Each policy gets no more of the body than it asked for.
      for (const entry of after) {
        safely(() => entry.done?.(status, body.subarray(0, entry.bodyBytes ?? 0)));
      }
    },
  };
}

function safely(work: () => void): void {
  try {
    work();
  } catch {
    // A policy's bookkeeping must not cost the client its answer.
  }
}
