-- Daily sales per category, written to the reports bucket.
SELECT c.name AS category, count(*) AS orders, sum(o.total) AS revenue
FROM orders o JOIN categories c ON c.id = o.category_id
WHERE o.created_at >= now() - interval '1 day'
GROUP BY c.name
ORDER BY revenue DESC;
