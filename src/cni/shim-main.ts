// Placeholder entry so the skeleton builds; replaced by the shim.
process.stdout.write('{}');
