// Python's ast.literal_eval for the small literals that arrive in query strings: Cinder evaluates most volume
// filter values with it (cinder/volume/api.py check_volume_filters), so `size=1` is the integer 1,
// `metadata={'k': 'v'}` a dict, and anything unreadable stays the raw string.

export type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

class Unreadable extends Error {}

/** The value literal_eval would give, or undefined where it raises (the caller keeps the raw string). */
export function literalEval(text: string): PyValue | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const fail = (): never => {
    throw new Unreadable();
  };
  const str = (): string => {
    const q = text[i++];
    let out = '';
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\') {
        const n = text[i + 1];
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n ?? fail();
        i += 2;
      } else out += text[i++];
    }
    if (text[i] !== q) fail();
    i++;
    return out;
  };
  const seq = (close: string): PyValue[] => {
    const items: PyValue[] = [];
    ws();
    while (text[i] !== close) {
      items.push(value());
      ws();
      if (text[i] === ',') {
        i++;
        ws();
      } else if (text[i] !== close) fail();
    }
    i++;
    return items;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === undefined) return fail();
    if (c === "'" || c === '"') return str();
    if (c === '[') {
      i++;
      return seq(']');
    }
    if (c === '(') {
      i++;
      return seq(')');
    }
    if (c === '{') {
      i++;
      const out: Record<string, PyValue> = {};
      ws();
      while (text[i] !== '}') {
        const k = value();
        ws();
        if (text[i++] !== ':') fail();
        out[String(k)] = value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
        } else if (text[i] !== '}') fail();
      }
      i++;
      return out;
    }
    const m = /^(?:[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|True|False|None)/.exec(text.slice(i));
    if (!m) return fail();
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0]);
  };
  try {
    const v = value();
    ws();
    return i === text.length ? v : undefined;
  } catch (e) {
    if (e instanceof Unreadable) return undefined;
    throw e;
  }
}
