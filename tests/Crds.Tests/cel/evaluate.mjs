// Evaluates CEL validation rules the way the API server binds them: `self` (and for transition
// rules `oldSelf`) is the value at the rule's place in the object. Reads a JSON array of
// { rule, self, oldSelf? } from stdin; integers arrive tagged as {"$int": "<digits>"} so they
// become CEL ints, not doubles. Writes a JSON array of { value } or { error }.
import { run } from "@bufbuild/cel";

const toCel = (v) => {
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === "object") {
    if (Object.keys(v).length === 1 && typeof v.$int === "string") return BigInt(v.$int);
    return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  }
  return v;
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map(({ rule, self, oldSelf }) => {
  try {
    const bindings = { self: toCel(self) };
    if (oldSelf !== undefined) bindings.oldSelf = toCel(oldSelf);
    const value = run(rule, bindings);
    return typeof value === "boolean" ? { value } : { error: `rule returned ${typeof value}, not a bool` };
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
});
process.stdout.write(JSON.stringify(results));
