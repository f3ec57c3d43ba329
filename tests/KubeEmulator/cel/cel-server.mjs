// Evaluates CRD `x-kubernetes-validations` CEL rules for the Kubernetes API emulator.
//
// Protocol: one JSON request per line on stdin, one JSON response per line on stdout.
//   request:  {"id": 1, "nodes": [{"self": V, "oldSelf": V?, "rules": [{"rule": "...", "messageExpression": "...",
//              "optionalOldSelf": false}]}]}
//   response: {"id": 1, "results": [[{"outcome": "pass"|"fail"|"error"|"overload"|"compileError", "detail": "...",
//              "message": "...", "messageError": "..."}]]}
// Values V are JSON with conventions that keep CEL's types exact: an integer is {"$i": "123"} (CEL int, a JS
// bigint) while a plain JSON number is a CEL double; strings of schema format date/date-time, duration and byte
// arrive as {"$t": "..."}, {"$d": "..."} and {"$b": "base64"} (CEL timestamp, duration, bytes); an object key
// that starts with "$" carries one extra "$" so that user data never collides with these markers.
// A request {"id": n, "ping": true} answers {"id": n, "pong": true} (start-up handshake).
import { createInterface } from "node:readline";
import { parse, plan, celEnv, isCelError, celFunc, celMethod, CelScalar, mapType, listType } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { create } from "@bufbuild/protobuf";
import { DurationSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";

const OptionalFlag = "\u0000optional";
const OptionalValue = "\u0000value";
const OptionalType = mapType(CelScalar.STRING, CelScalar.DYN);
const DynList = listType(CelScalar.DYN);

function optionalOf(value) {
  return value === undefined ? new Map([[OptionalFlag, false]]) : new Map([[OptionalFlag, true], [OptionalValue, value]]);
}

function toArray(list) {
  const out = [];
  for (let i = 0; i < list.size; i++) out.push(list.get(i));
  return out;
}

function compareCel(a, b) {
  if (typeof a !== typeof b) throw new Error("no such overload");
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}

// Kubernetes CEL library functions (https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-list-library)
// that @bufbuild/cel does not ship, plus the optional-value methods used with `optionalOldSelf`.
const kubernetesFuncs = [
  celMethod("hasValue", OptionalType, [], CelScalar.BOOL, function () { return this.get(OptionalFlag) === true; }),
  celMethod("value", OptionalType, [], CelScalar.DYN, function () {
    if (this.get(OptionalFlag) !== true) throw new Error("optional.none() dereference");
    return this.get(OptionalValue);
  }),
  celMethod("orValue", OptionalType, [CelScalar.DYN], CelScalar.DYN, function (fallback) {
    return this.get(OptionalFlag) === true ? this.get(OptionalValue) : fallback;
  }),
  celFunc("optional.none", [], OptionalType, () => optionalOf(undefined)),
  celFunc("optional.of", [CelScalar.DYN], OptionalType, (v) => optionalOf(v)),
  celMethod("isSorted", DynList, [], CelScalar.BOOL, function () {
    const items = toArray(this);
    for (let i = 1; i < items.length; i++) if (compareCel(items[i - 1], items[i]) > 0) return false;
    return true;
  }),
  celMethod("sum", DynList, [], CelScalar.DYN, function () {
    const items = toArray(this);
    if (items.length === 0) return 0n;
    return items.reduce((a, b) => a + b);
  }),
  celMethod("min", DynList, [], CelScalar.DYN, function () {
    const items = toArray(this);
    if (items.length === 0) throw new Error("min called on empty list");
    return items.reduce((a, b) => (compareCel(a, b) <= 0 ? a : b));
  }),
  celMethod("max", DynList, [], CelScalar.DYN, function () {
    const items = toArray(this);
    if (items.length === 0) throw new Error("max called on empty list");
    return items.reduce((a, b) => (compareCel(a, b) >= 0 ? a : b));
  }),
  celMethod("indexOf", DynList, [CelScalar.DYN], CelScalar.INT, function (v) {
    const items = toArray(this);
    return BigInt(items.findIndex((x) => x === v));
  }),
  celMethod("lastIndexOf", DynList, [CelScalar.DYN], CelScalar.INT, function (v) {
    const items = toArray(this);
    let found = -1;
    items.forEach((x, i) => { if (x === v) found = i; });
    return BigInt(found);
  }),
  celMethod("find", CelScalar.STRING, [CelScalar.STRING], CelScalar.STRING, function (re) {
    const m = new RegExp(re, "u").exec(this);
    return m ? m[0] : "";
  }),
  celMethod("findAll", CelScalar.STRING, [CelScalar.STRING], listType(CelScalar.STRING), function (re) {
    return [...this.matchAll(new RegExp(re, "gu"))].map((m) => m[0]);
  }),
];

const env = celEnv({ funcs: [...strings, ...kubernetesFuncs] });
const programs = new Map();

function compile(expression) {
  let entry = programs.get(expression);
  if (entry === undefined) {
    try {
      entry = { program: plan(env, parse(expression)) };
    } catch (e) {
      entry = { error: String(e?.message ?? e) };
    }
    programs.set(expression, entry);
  }
  return entry;
}

function decode(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(decode);
  const keys = Object.keys(value);
  if (keys.length === 1) {
    switch (keys[0]) {
      case "$i": return BigInt(value.$i);
      // A malformed value (accepted only through validation ratcheting) stays a string.
      case "$t": try { return timestamp(value.$t); } catch { return value.$t; }
      case "$d": try { return duration(value.$d); } catch { return value.$d; }
      case "$b": return new Uint8Array(Buffer.from(value.$b, "base64"));
    }
  }
  const map = new Map();
  for (const key of keys) map.set(key.startsWith("$") ? key.slice(1) : key, decode(value[key]));
  return map;
}

// RFC 3339 date-time (or a full-date, as midnight UTC) with nanosecond precision.
function timestamp(text) {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2}))?$/.exec(text);
  if (!m) throw new Error(`invalid timestamp ${JSON.stringify(text)}`);
  const ms = Date.parse(`${m[1]}T${m[2] ?? "00:00:00"}${m[4] && m[4] !== "z" ? m[4] : "Z"}`);
  const nanos = m[3] ? Number((m[3] + "00000000").slice(0, 9)) : 0;
  return create(TimestampSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos });
}

// Go-style durations as the apiserver's strfmt reads them: "1h30m", "1.5s", "300ms", also "d" and "w" units.
const DurationUnits = { ns: 1n, us: 1000n, "µs": 1000n, ms: 1000000n, s: 1000000000n, m: 60000000000n, h: 3600000000000n, d: 86400000000000n, w: 604800000000000n };
function duration(text) {
  let rest = text.trim();
  let sign = 1n;
  if (rest.startsWith("-")) { sign = -1n; rest = rest.slice(1); } else if (rest.startsWith("+")) rest = rest.slice(1);
  let total = 0n;
  const part = /^\s*(\d+)(?:\.(\d+))?\s*(ns|us|µs|ms|s|m|h|d|w)/;
  if (rest === "0") return create(DurationSchema, {});
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}`);
    const unit = DurationUnits[m[3]];
    total += BigInt(m[1]) * unit;
    if (m[2]) total += (BigInt(m[2]) * unit) / 10n ** BigInt(m[2].length);
    rest = rest.slice(m[0].length).trim();
  }
  total *= sign;
  return create(DurationSchema, { seconds: total / 1000000000n, nanos: Number(total % 1000000000n) });
}

// Translates @bufbuild/cel runtime errors into the wording of cel-go, which the apiserver prints.
function runtimeError(message) {
  let m = /^field not found: (.*)$/.exec(message);
  if (m) return { kind: "error", detail: `no such key: ${m[1]}` };
  m = /^key not found: (.*)$/.exec(message);
  if (m) return { kind: "error", detail: `no such key: ${m[1]}` };
  m = /^unbound function: (.*)$/.exec(message);
  if (m) return { kind: "compileError", detail: `undeclared reference to '${m[1]}' (in container '')` };
  if (message.startsWith("found no matching overload")) return { kind: "overload", detail: message };
  if (message === "int divide by zero") return { kind: "error", detail: "division by zero" };
  if (message === "int modulus by zero") return { kind: "error", detail: "modulus by zero" };
  return { kind: "error", detail: message };
}

function evaluate(entry, bindings) {
  try {
    const result = entry.program(bindings);
    if (isCelError(result)) return { error: runtimeError(result.message) };
    return { value: result };
  } catch (e) {
    return { error: runtimeError(String(e?.message ?? e)) };
  }
}

function evaluateRule(rule, self, oldSelf, hasOld) {
  const compiled = compile(rule.rule);
  if (compiled.error !== undefined) return { outcome: "compileError", detail: compiled.error };
  const bindings = { self };
  if (rule.optionalOldSelf) bindings.oldSelf = optionalOf(hasOld ? oldSelf : undefined);
  else if (hasOld) bindings.oldSelf = oldSelf;
  const r = evaluate(compiled, bindings);
  if (r.error !== undefined) return { outcome: r.error.kind, detail: r.error.detail };
  if (typeof r.value !== "boolean") {
    return { outcome: "error", detail: "rule did not evaluate to a bool" };
  }
  if (r.value) return { outcome: "pass" };
  const failed = { outcome: "fail" };
  if (rule.messageExpression) {
    const message = compile(rule.messageExpression);
    if (message.error !== undefined) {
      failed.messageError = `messageExpression compile error: ${message.error}`;
    } else {
      const m = evaluate(message, bindings);
      if (m.error !== undefined) failed.messageError = `messageExpression evaluation failed due to: ${m.error.detail}`;
      else if (typeof m.value !== "string") failed.messageError = "messageExpression failed to convert to string";
      else failed.message = m.value;
    }
  }
  return failed;
}

function handle(request) {
  if (request.ping) return { id: request.id, pong: true };
  const results = request.nodes.map((node) => {
    const hasOld = Object.hasOwn(node, "oldSelf");
    const self = decode(node.self);
    const oldSelf = hasOld ? decode(node.oldSelf) : undefined;
    return node.rules.map((rule) => evaluateRule(rule, self, oldSelf, hasOld));
  });
  return { id: request.id, results };
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (line.trim() === "") return;
  let response;
  try {
    const request = JSON.parse(line);
    try {
      response = handle(request);
    } catch (e) {
      response = { id: request.id, failure: String(e?.stack ?? e) };
    }
  } catch (e) {
    response = { id: null, failure: `bad request: ${e?.message ?? e}` };
  }
  process.stdout.write(JSON.stringify(response) + "\n");
});
lines.on("close", () => process.exit(0));

