// Validate a .glb with the Khronos glTF-Validator and print its report as JSON.
// Usage: node validate_gltf.js VALIDATOR_MODULE_DIR FILE.glb
const validator = require(process.argv[2]);
const fs = require("fs");
validator
  .validateBytes(new Uint8Array(fs.readFileSync(process.argv[3])))
  .then((report) => console.log(JSON.stringify(report)))
  .catch((error) => {
    console.error(String(error));
    process.exit(1);
  });
