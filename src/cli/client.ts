// The CLI's view of the service: the Cinder v3 HTTP API and nothing else, so the CLI works against any embervol
// (or Cinder) endpoint it can reach.
import { readFileSync } from 'node:fs';

export const EXIT = { ok: 0, apiError: 1, usage: 2, unreachable: 3 } as const;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  project: string;
  user: string;
  token?: string;
  version: string;
}

export function clientOptionsFromEnv(flags: Partial<ClientOptions>): ClientOptions {
  return {
    url: (flags.url ?? process.env.EMBERVOL_URL ?? 'http://127.0.0.1:8776').replace(/\/+$/, ''),
    project: flags.project ?? process.env.EMBERVOL_PROJECT ?? 'embervol',
    user: flags.user ?? process.env.EMBERVOL_USER ?? 'embervol-cli',
    token: flags.token ?? process.env.EMBERVOL_TOKEN,
    version: flags.version ?? '3.0',
  };
}

export class ApiClient {
  constructor(readonly opts: ClientOptions) {}

  async request<T = any>(method: string, path: string, body?: unknown, version = this.opts.version): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await fetch(`${this.opts.url}/v3${path}`, {
        method,
        headers: {
          'X-Auth-Token': this.opts.token ?? `${this.opts.user}:${this.opts.project}`,
          'OpenStack-API-Version': `volume ${version}`,
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new CliError(
        `cannot reach embervol at ${this.opts.url} (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}); ` +
          'start it with `embervol serve` or point --url / EMBERVOL_URL at it',
        EXIT.unreachable,
      );
    }
    const text = await res.text();
    let parsed: any = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (res.status >= 400) {
      const fault = parsed && typeof parsed === 'object' ? (Object.values(parsed)[0] as { message?: string } | undefined) : undefined;
      throw new CliError(`${method} ${path}: HTTP ${res.status}: ${fault?.message ?? text}`, EXIT.apiError);
    }
    return { status: res.status, body: parsed as T };
  }

  action(volumeId: string, name: string, value: unknown = null) {
    return this.request('POST', `/volumes/${encodeURIComponent(volumeId)}/action`, { [name]: value });
  }

  /** Accepts an id or a unique name, as cinderclient does. */
  async findVolume(ref: string): Promise<any> {
    try {
      return (await this.request('GET', `/volumes/${encodeURIComponent(ref)}`)).body.volume;
    } catch (e) {
      if (!(e instanceof CliError) || !/HTTP 404/.test(e.message)) throw e;
    }
    const list = (await this.request('GET', `/volumes/detail?name=${encodeURIComponent(ref)}`)).body.volumes as any[];
    const matches = list.filter((v) => v.name === ref);
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw new CliError(`more than one volume is named "${ref}"; use its id`, EXIT.usage);
    throw new CliError(`no volume with id or name "${ref}"`, EXIT.apiError);
  }

  async waitVolume(id: string, wanted: string[], timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = (await this.request('GET', `/volumes/${id}`)).body.volume;
      if (wanted.includes(v.status)) return v;
      if (v.status.startsWith('error')) throw new CliError(`volume ${id} went to ${v.status}`, EXIT.apiError);
      if (Date.now() > deadline) throw new CliError(`volume ${id} is still ${v.status} after ${timeoutMs / 1000} s`, EXIT.apiError);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The host's own initiator name, where open-iscsi keeps it (what os-brick reads). */
export function localInitiatorName(): string | undefined {
  try {
    const m = /^InitiatorName=(.+)$/m.exec(readFileSync('/etc/iscsi/initiatorname.iscsi', 'utf8'));
    return m?.[1].trim();
  } catch {
    return undefined;
  }
}
