DROP TABLE strategy_metrics;
