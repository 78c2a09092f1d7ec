import { defineConfig } from "vite";

// The console is built into static files that the Python server serves at "/"
// (src/netwarden/api/console.py). No plugin: Vite's own transform compiles TSX
// with React's automatic runtime. `npm run dev` proxies the API to a server on :8080.
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
