import type { FastifyReply, FastifyRequest } from 'fastify';

/** An open Server-Sent Events stream. */
export interface EventStream {
  send(event: string, id: string | number, data: unknown): void;
  readonly isClosed: boolean;
}

const KEEPALIVE_MS = 15_000;

/** Every open stream of the process, so shutdown can end them (otherwise close would wait forever). */
export class EventStreams {
  private readonly open = new Set<() => void>();

  /** Takes over the response and returns a stream; `onClose` runs when the client goes away or at shutdown. */
  start(request: FastifyRequest, reply: FastifyReply, onClose: () => void): EventStream {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-request-id': request.id,
    });
    raw.write(': connected\n\n');
    let isClosed = false;
    const keepalive = setInterval(() => raw.write(': ping\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    const close = () => {
      if (isClosed) return;
      isClosed = true;
      clearInterval(keepalive);
      this.open.delete(close);
      onClose();
      raw.end();
    };
    this.open.add(close);
    request.raw.on('close', close);
    return {
      send(event, id, data) {
        if (isClosed) return;
        raw.write(`event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`);
      },
      get isClosed() {
        return isClosed;
      },
    };
  }

  /** Ends every open stream. */
  closeAll(): void {
    for (const close of [...this.open]) close();
  }
}
