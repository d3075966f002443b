-- POST bodies of changing size: JSON documents of 200 B to 8 KiB (log-uniform, so small ones
-- are the most frequent, as in API traffic), Content-Length changing with them. A few hundred
-- bodies are prepared once (fixed seed), and each request takes the next one in a scrambled
-- order; the path, query, request id and bearer token change with every request. The server
-- must read each body whole and answer {"received":N} (N = Content-Length), or 500.
local count = 256
local bodies = {}
math.randomseed(12)
for i = 1, count do
  local size = math.floor(200 * math.exp(math.random() * math.log(8192 / 200)))
  local head = string.format('{"id":%d,"name":"item-%d","tags":["bench","varied"],"price":%d.%02d,"note":"',
    i, i, i * 3, i % 100)
  local tail = '"}'
  local words = string.rep("lorem ipsum dolor sit amet ", math.ceil(size / 27))
  bodies[i] = head .. string.sub(words, 1, size - #head - #tail) .. tail
end
local agents = {
  "python-requests/2.32.3",
  "okhttp/4.12.0",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
}
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/api/items/" .. n .. "?v=" .. (n % 5), {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
    ["Accept-Encoding"] = "gzip, deflate",
    ["User-Agent"] = agents[n % 3 + 1],
    ["Authorization"] = string.format("Bearer %016x%08x", n * 2654435761, n),
    ["X-Request-Id"] = string.format("%08x%08x", n, n * 7919),
  }, bodies[(n * 97) % count + 1])
end
