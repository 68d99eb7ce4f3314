// A thin Cinder v3 client over fetch, so tests read like the HTTP calls Nova or cinderclient make.
export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export class CinderApi {
  constructor(
    readonly baseUrl: string,
    readonly project = '0a1b2c3d4e5f',
    readonly user = 'tester',
    readonly version = '3.0',
  ) {}

  async call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const res = await fetch(`${this.baseUrl}/v3/${this.project}${path}`, {
      method,
      headers: {
        'X-Auth-Token': `${this.user}:${this.project}`,
        'OpenStack-API-Version': `volume ${this.version}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep text */
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }

  action(volumeId: string, name: string, value: unknown = null) {
    return this.call('POST', `/volumes/${volumeId}/action`, { [name]: value });
  }

  async createVolume(size = 1, extra: Record<string, unknown> = {}): Promise<string> {
    const r = await this.call('POST', '/volumes', { volume: { size, ...extra } });
    if (r.status !== 202) throw new Error(`create volume: ${r.status} ${JSON.stringify(r.body)}`);
    const id = r.body.volume.id as string;
    await this.waitStatus(id, 'available');
    return id;
  }

  async volume(id: string): Promise<any> {
    const r = await this.call('GET', `/volumes/${id}`);
    if (r.status !== 200) throw new Error(`show volume ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.volume;
  }

  async waitStatus(id: string, status: string, timeoutMs = 30_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.volume(id);
      if (v.status === status) return v;
      if (v.status === 'error' || Date.now() > deadline) throw new Error(`volume ${id} is ${v.status}, wanted ${status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
