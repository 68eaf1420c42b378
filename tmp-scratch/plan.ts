import { planMemory } from "../src/pipeline/MemoryBudget.ts";
import { tilesWithin } from "../src/objective/Tiles.ts";
const G = 2 ** 30;
for (const [w, h, b] of [[4096, 3072, 4], [4096, 3072, 4.5], [4096, 3072, 6], [4096, 3072, 17.7], [8192, 6144, 17.7], [2048, 1536, 17.7], [2048,1536,8]] as const) {
  const p = planMemory(w * h, b * G);
  const t = p?.windowPixels ? tilesWithin("vgg19", "block5_conv1", { width: w, height: h }, p.windowPixels) : undefined;
  console.log(w, h, b, p && { ...p, bytes: (p.bytes / G).toFixed(2) }, t && `${t.tiles.length} x ${t.window.width}x${t.window.height} overhead ${(t.tiles.length * t.window.width * t.window.height / (w * h)).toFixed(2)}`);
}
