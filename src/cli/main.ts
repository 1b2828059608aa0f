// Placeholder entry so the skeleton builds; replaced by the commander-based CLI.
console.log('twill: not built yet');
