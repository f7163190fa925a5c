// bicep-parse.mjs parses Bicep files with the tree-sitter-bicep grammar (its
// prebuilt .wasm, loaded by web-tree-sitter) and prints one JSON object per
// file: {"file": ..., "nodes": N, "problems": [{"kind", "row", "column", "text"}]}.
// A problem is an ERROR node or a MISSING node; rows and columns are 1-based.
//
// With --vars it also prints, under "vars", every top-level `var` of the
// file as JSON: strings without interpolation as their value, arrays and
// objects element by element, and any other expression as {"expr": source}.
// The contract tests read app settings, queues and containers this way.
//
// A .bicepparam file assigns parameters without a type (`param x = 1`), which
// this grammar (tree-sitter-bicep 1.1.0) has no rule for. So each such
// `param` keyword is read as `var`, padded to the same length, before
// parsing: every expression is still parsed by the grammar, and positions
// stay the same.
//
// Usage: node bicep-parse.mjs [--vars] GRAMMAR_DIR FILE...
// GRAMMAR_DIR is the npm folder made by scripts/install-test-tools, which
// holds node_modules/web-tree-sitter and node_modules/tree-sitter-bicep.
// Exit status: 0 when every file parsed cleanly, 1 when any file has a
// problem, 2 on a usage or load failure.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const withVars = args[0] === "--vars";
if (withVars) args.shift();
const [grammarDir, ...files] = args;
if (!grammarDir || files.length === 0) {
  console.error("usage: node bicep-parse.mjs [--vars] GRAMMAR_DIR FILE...");
  process.exit(2);
}

const modules = join(grammarDir, "node_modules");
let Parser, Language;
try {
  ({ Parser, Language } = await import(
    pathToFileURL(join(modules, "web-tree-sitter", "tree-sitter.js")).href
  ));
  await Parser.init();
} catch (err) {
  console.error(`load web-tree-sitter from ${modules}: ${err.message}`);
  process.exit(2);
}

let bicep;
const wasmPath = join(modules, "tree-sitter-bicep", "tree-sitter-bicep.wasm");
try {
  bicep = await Language.load(readFileSync(wasmPath));
} catch (err) {
  console.error(`load the Bicep grammar ${wasmPath}: ${err.message}`);
  process.exit(2);
}

const parser = new Parser();
parser.setLanguage(bicep);

let failed = false;
for (const file of files) {
  let source = readFileSync(file, "utf8");
  if (file.endsWith(".bicepparam")) {
    source = source.replace(/^param(\s)/gm, "var  $1");
  }
  const tree = parser.parse(source);
  const problems = [];
  let nodes = 0;

  // Walk the whole tree with a cursor: hasError on the root only says that
  // some problem exists, and the report should name every one.
  const cursor = tree.walk();
  let descend = true;
  for (;;) {
    if (descend) {
      nodes++;
      const node = cursor.currentNode;
      if (node.isError || node.isMissing) {
        problems.push({
          kind: node.isMissing ? `MISSING ${node.type}` : "ERROR",
          row: node.startPosition.row + 1,
          column: node.startPosition.column + 1,
          text: source.slice(node.startIndex, Math.min(node.endIndex, node.startIndex + 80)),
        });
      }
      if (cursor.gotoFirstChild()) continue;
    }
    if (cursor.gotoNextSibling()) {
      descend = true;
      continue;
    }
    if (!cursor.gotoParent()) break;
    descend = false;
  }

  if (problems.length > 0) failed = true;
  const result = { file, nodes, problems };
  if (withVars) result.vars = topLevelVars(tree.rootNode);
  console.log(JSON.stringify(result));
}
process.exit(failed ? 1 : 0);

function topLevelVars(root) {
  const vars = {};
  for (const decl of root.namedChildren) {
    if (decl.type !== "variable_declaration") continue;
    const [name, value] = decl.namedChildren;
    if (name && value) vars[name.text] = literal(value);
  }
  return vars;
}

function literal(node) {
  switch (node.type) {
    case "string": {
      const parts = node.namedChildren;
      if (parts.every((p) => p.type === "string_content")) {
        return parts.map((p) => p.text).join("");
      }
      return { expr: node.text };
    }
    case "array":
      return node.namedChildren.filter((n) => n.type !== "comment").map(literal);
    case "object": {
      const out = {};
      for (const prop of node.namedChildren) {
        if (prop.type !== "object_property") continue;
        const [key, value] = prop.namedChildren;
        const k = key.type === "string" ? literal(key) : key.text;
        out[typeof k === "string" ? k : key.text] = literal(value);
      }
      return out;
    }
    default:
      return { expr: node.text };
  }
}
