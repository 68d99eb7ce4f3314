import type {} from 'fastify';
import type { RequestContext } from '../workflow/context.js';
// Every request carries the caller's context once auth and microversion negotiation ran (app.ts sets it).

declare module 'fastify' {
  interface FastifyRequest {
    ctx: RequestContext;
  }
}
