// Compile one Solidity file with npm `solc` (solc-js, the project's devDependency); print
// {"version": ..., "contracts": {Name: {"abi": [...], "bytecode": "0x..."}}} on stdout.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const file = process.argv[2];
const input = {
  language: "Solidity",
  sources: { [path.basename(file)]: { content: fs.readFileSync(file, "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  process.stderr.write(errors.map((e) => e.formattedMessage).join("\n") + "\n");
  process.exit(1);
}
const contracts = {};
for (const [name, c] of Object.entries(output.contracts[path.basename(file)])) {
  contracts[name] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
}
process.stdout.write(JSON.stringify({ version: solc.version(), contracts }));
